#!/usr/bin/env bash
# Installs the Python pieces the tests use: a virtualenv with AWS's Lambda runtime
# interface client (awslambdaric), so that real Lambda handlers are run by the real client,
# and boto3, so that the Lambda API is tested with the real SDK.
# The venv lives outside the clone (like the cargo target dir) and is reused when present.
set -euo pipefail

venv="${EDDY_VENV:-$HOME/.cache/eddy-venv}"
awslambdaric_version="4.2.2"
boto3_version="1.44.8"

if "$venv/bin/python" -c "import awslambdaric, boto3" >/dev/null 2>&1; then
  exit 0
fi
command -v python3 >/dev/null 2>&1 || {
  echo "setup-python: python3 not found; install python3 (e.g. apt-get install python3 python3-venv)" >&2
  exit 1
}
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-python: installing python3-venv with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  else
    echo "setup-python: python3 cannot create virtualenvs; install python3-venv" >&2
    exit 1
  fi
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "awslambdaric==$awslambdaric_version" "boto3==$boto3_version"
"$venv/bin/python" -c "import awslambdaric, boto3"
echo "setup-python: awslambdaric $awslambdaric_version in $venv" >&2
