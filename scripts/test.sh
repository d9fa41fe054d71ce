#!/usr/bin/env bash
# Installs what the tests need (Debian packages, the pinned Python packages) and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian's chromium for the browser tests; the emoji font so screenshots show the icons;
# the real Fashion-MNIST files, which one test trains on.
PACKAGES=(chromium fonts-noto-color-emoji dataset-fashion-mnist)
if ! dpkg -s "${PACKAGES[@]}" >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
fi
bash scripts/setup.sh requirements-dev.txt
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"  # Two processes, one test file each.
