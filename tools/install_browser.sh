#!/usr/bin/env bash
# Debian's Chromium and its matching ChromeDriver for the viewer's browser test
# (tests/tools/test_serve.py), installed with apt-get: `make test-browser` runs this.
# Kept out of `make install` because it changes the system, not the venv (root, apt).
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  echo "[browser] $(/usr/bin/chromium --version 2>/dev/null) and chromedriver already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "error: no apt-get: install Chromium and a matching ChromeDriver as /usr/bin/chromium and /usr/bin/chromedriver" >&2
  exit 1
fi
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
  command -v sudo >/dev/null || { echo "error: installing chromium needs root (or sudo)" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "[browser] installing Debian's chromium and chromium-driver"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq chromium chromium-driver
