#!/usr/bin/env bash
# Installs the benchmark peers eddy is measured against (see ../shared/PEERS.md):
# - Redis 7 (Debian redis-server) and NATS 2.9 with JetStream (Debian nats-server), by
#   apt-get when missing and running as root;
# - kinesalite 3.3.3 (npm) into a folder of the bench's own, outside the clone.
# A peer that cannot be installed is reported, and `eddy-bench` reports it as missing
# rather than skipping it silently. EDDY_PEERS_DIR overrides where kinesalite goes.
set -uo pipefail

peers_dir="${EDDY_PEERS_DIR:-$HOME/.cache/eddy-peers}"
kinesalite_version="3.3.3"
status=0

missing_debs=()
command -v redis-server >/dev/null 2>&1 || missing_debs+=(redis-server redis-tools)
command -v nats-server >/dev/null 2>&1 || missing_debs+=(nats-server)
if [ "${#missing_debs[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup-peers: installing ${missing_debs[*]} with apt-get" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    # The Debian packages start their daemons on install where systemd runs; the bench
    # starts its own instances on ephemeral loopback ports, so those are left alone.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing_debs[@]}" >/dev/null || status=1
  else
    echo "setup-peers: missing ${missing_debs[*]}; install them (apt-get install ${missing_debs[*]})" >&2
    status=1
  fi
fi

kinesalite_cli="$peers_dir/kinesalite/node_modules/kinesalite/cli.js"
if [ ! -f "$kinesalite_cli" ] || ! grep -q "\"version\": \"$kinesalite_version\"" \
    "$peers_dir/kinesalite/node_modules/kinesalite/package.json" 2>/dev/null; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$peers_dir/kinesalite"
    echo "setup-peers: installing kinesalite $kinesalite_version into $peers_dir/kinesalite" >&2
    (cd "$peers_dir/kinesalite" && npm install --silent --no-audit --no-fund \
      "kinesalite@$kinesalite_version" >/dev/null) || status=1
  else
    echo "setup-peers: npm not found; kinesalite cannot be installed" >&2
    status=1
  fi
fi

for tool in redis-server nats-server; do
  command -v "$tool" >/dev/null 2>&1 && echo "setup-peers: $tool $("$tool" --version 2>&1 | head -1)" >&2
done
[ -f "$kinesalite_cli" ] && echo "setup-peers: kinesalite at $kinesalite_cli" >&2
exit "$status"
