#!/usr/bin/env bash
# Installs Digit Lab into .venv and starts it on http://localhost:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements.txt
exec .venv/bin/python -m streamlit run app.py "$@"
