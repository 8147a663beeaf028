#!/usr/bin/env bash
# Set up (venv + Debian Chromium and a CJK font for the browser and OCR tests + Debian PostgreSQL for the
# store tests, which start a throwaway cluster of their own: tests/pg_support.py) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Test-only Debian packages: Chromium for the browser tests, a small CJK font (WenQuanYi Micro Hei)
# for rendering the Chinese pages of the OCR tests. Running Veracity needs neither.
if [ ! -x /usr/bin/chromium ] || [ ! -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver fonts-wqy-microhei >/dev/null
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql >/dev/null
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check pipeline api tests bench scripts
.venv/bin/python -m pytest "$@"
