#!/usr/bin/env bash
# Installs what a fresh Debian/Ubuntu machine with a Rust toolchain lacks to build eddy:
# a C++ compiler and libclang (bindgen needs it for the RocksDB bindings). Uses apt when
# run as root; otherwise names the packages to install. Idempotent and quick when
# everything is present.
set -euo pipefail

missing=()
command -v cargo >/dev/null 2>&1 || {
  echo "setup: cargo not found; install a Rust toolchain first (https://rustup.rs)" >&2
  exit 1
}
command -v c++ >/dev/null 2>&1 || missing+=(g++)
command -v make >/dev/null 2>&1 || missing+=(make)

have_libclang() {
  if [ -n "${LIBCLANG_PATH:-}" ] && ls "$LIBCLANG_PATH"/libclang*.so* >/dev/null 2>&1; then
    return 0
  fi
  ls /usr/lib/llvm-*/lib/libclang.so* /usr/lib/x86_64-linux-gnu/libclang-*.so* \
     /usr/lib/aarch64-linux-gnu/libclang-*.so* /usr/lib/libclang.so* >/dev/null 2>&1
}
have_libclang || missing+=(libclang-dev)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: missing ${missing[*]}; install them, e.g.: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
