#!/usr/bin/env bash
# Installs the project's local tooling at pinned versions: moto, cfn-lint and the SAM CLI into
# .venv (requirements-dev.txt); the API docs' assets and playwright-core into tools/docs
# (package-lock.json; functions/docs builds the assets in, so this comes before any cargo build);
# and Debian's chromium for the browser test when it is missing (as root, or through sudo -n).
# Safe to run again: each part does nothing when it already matches its pins.
#   scripts/setup.sh           what `make run` needs: the assets and .venv
#   scripts/setup.sh assets    the docs assets only (before a build)
#   scripts/setup.sh python    .venv only
#   scripts/setup.sh browser   chromium only (the browser test's)
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-run}"

python_tools() {
venv=.venv
stamp="$venv/.requirements-dev.txt"
if ! { [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && cmp -s requirements-dev.txt "$stamp"; }; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
  echo "setup: tools installed in $venv"
fi
}

assets() {
npm_stamp=tools/docs/node_modules/.package-lock.json
if ! { [ -f "$npm_stamp" ] && cmp -s tools/docs/package-lock.json "$npm_stamp.src"; }; then
  npm ci --prefix tools/docs --no-audit --no-fund --loglevel=error
  cp tools/docs/package-lock.json "$npm_stamp.src"
  echo "setup: docs assets installed in tools/docs/node_modules"
fi
}

browser() {
# The browser test drives Debian's chromium (playwright-core downloads no browser).
if [ ! -x /usr/bin/chromium ]; then
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo -n)
  if command -v apt-get >/dev/null && "${sudo[@]}" true 2>/dev/null; then
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
    echo "setup: chromium installed"
  else
    echo "setup: /usr/bin/chromium is missing; the browser test needs it (apt-get install chromium, as root)" >&2
  fi
fi
}

case "$part" in
  run) assets; python_tools ;;
  assets) assets ;;
  python) python_tools ;;
  browser) browser ;;
  *) echo "usage: $0 [assets|python|browser]" >&2; exit 2 ;;
esac
