#!/usr/bin/env bash
# Installs everything the build, the tests and the demo need, on a fresh Debian 12 machine.
# Idempotent: quick when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
# The arm64 (Graviton) binary is smoke-tested under qemu-user.
[ -x /usr/bin/qemu-aarch64-static ] || need_apt+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need_apt+=(libc6-arm64-cross)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian packages start system services; the tests start their own instances on other ports.
  $SUDO systemctl disable --now prometheus victoria-metrics >/dev/null 2>&1 || true
fi

if [ ! -x node_modules/bun/bin/bun.exe ] || [ ! -d node_modules/vitest ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
# Bun's postinstall must have run (it replaces a placeholder with the real runtime).
node_modules/bun/bin/bun.exe --version >/dev/null
