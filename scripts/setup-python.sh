#!/usr/bin/env bash
# Installs the Python pieces the tests use, into a virtualenv outside the clone (like the
# cargo target dir), reused when it already holds every pinned package at its version:
# - AWS's Lambda runtime interface client (awslambdaric), so that real Lambda handlers are
#   run by the real client;
# - boto3, botocore and the AWS CLI (v1, from PyPI), plus cbor2 and pytest, for the AWS API
#   conformance suite in engine/tests/aws/ (real clients against a real `eddy serve`).
# EDDY_VENV overrides where the venv lives.
set -euo pipefail

venv="${EDDY_VENV:-$HOME/.cache/eddy-venv}"
# Every package the venv must hold, pinned. Change a version here and the next run
# reinstalls into the same venv.
pins=(
  "awslambdaric==4.2.2"
  "boto3==1.44.8"
  "botocore==1.44.8"
  "awscli==1.46.2"
  "cbor2==6.3.0"
  "pytest==9.2.0"
)

# True when the venv's python runs and every pin is installed at exactly its version.
pins_satisfied() {
  [ -x "$venv/bin/python" ] || return 1
  "$venv/bin/python" - "${pins[@]}" >/dev/null 2>&1 <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for pin in sys.argv[1:]:
    name, wanted = pin.split("==")
    try:
        if version(name) != wanted:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
import awslambdaric, boto3, botocore, awscli, cbor2, pytest  # noqa: E401,F401  they import
EOF
}

if pins_satisfied; then
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
# A venv whose python works is kept and brought to the pins; a broken one is made anew.
if ! "$venv/bin/python" -c "import sys" >/dev/null 2>&1; then
  rm -rf "$venv"
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
if ! pins_satisfied; then
  echo "setup-python: $venv does not hold ${pins[*]} after installing them" >&2
  exit 1
fi
echo "setup-python: ${pins[*]} in $venv" >&2
