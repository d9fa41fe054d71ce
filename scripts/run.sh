#!/usr/bin/env bash
# Installs Digit Lab into .venv and starts it on http://localhost:8501; with --audience,
# also the audience server for the network (launch.py prints its address and a QR code).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
exec .venv/bin/python launch.py "$@"
