#!/usr/bin/env bash
# Make sure Debian's Chromium is installed: the browser tests drive it with Playwright's Python API
# (tests/support/browser.py, executable_path=/usr/bin/chromium). No browser is ever downloaded.
# Idempotent: does nothing when /usr/bin/chromium is there.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" chromium
test -x /usr/bin/chromium || { echo "browser: /usr/bin/chromium missing after install" >&2; exit 1; }
