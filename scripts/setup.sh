#!/usr/bin/env bash
# Installs the project's local tooling at pinned versions: moto, cfn-lint and the SAM CLI into
# .venv (requirements-dev.txt, a lock of scripts/lock.sh: every package pinned and hash-checked),
# and the API docs' assets and playwright-core into tools/docs (package-lock.json; functions/docs
# builds the assets in, so this comes before any cargo build).
# First it checks what the README's requirements name, and says what is missing and how to get it.
#   scripts/setup.sh           what `make run` needs: the assets and .venv
#   scripts/setup.sh test      also what only `make test` uses: Debian's chromium for the browser
#                              test (as root, or through sudo -n)
#   scripts/setup.sh assets    the docs assets only (before a build)
#   scripts/setup.sh python    .venv only
#   scripts/setup.sh browser   chromium only (the browser test's)
# Safe to run again: each part does nothing when it already matches its pins.
set -euo pipefail
cd "$(dirname "$0")/.."
part="${1:-run}"

requirements() {
missing=0
need() { # command, why, how to get it
  if ! command -v "$1" >/dev/null; then
    echo "setup: $1 is missing: $2 ($3)" >&2
    missing=1
  fi
}
need cargo "the functions and the local stack are Rust" "https://rustup.rs"
need cc "Rust links through the system's C compiler" "apt-get install build-essential"
need python3 "the emulator (moto) and the SAM CLI are Python" "apt-get install python3 python3-venv"
need npm "functions/docs builds Swagger UI and Redoc in from pinned npm packages" \
  "Node.js 20 or later with npm: apt-get install nodejs npm, or https://nodejs.org"
# The locks (requirements-*.txt) are made on 3.11 and pin releases that need it.
if command -v python3 >/dev/null && ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: python3 is $(python3 --version 2>&1); the pinned tools need 3.11 or later" >&2
  missing=1
fi
if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "setup: python3 cannot create virtual environments (apt-get install python3-venv)" >&2
  missing=1
fi
[ "$missing" -eq 0 ] || exit 1
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js $(node --version 2>/dev/null || echo '?') is older than the 20 this project is tested with" >&2
fi
}

python_tools() {
venv=.venv
stamp="$venv/.requirements-dev.txt"
if ! { [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && cmp -s requirements-dev.txt "$stamp"; }; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-pip.txt
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
  echo "setup: tools installed in $venv"
fi
}

# One lock for the docs' assets and playwright-core: a few MB that `make run` installs too.
# --ignore-scripts: no package runs code at install (swagger-ui-dist's @scarf/scarf would report
# the install to its vendor); the assets are files, read at build time.
assets() {
npm_stamp=tools/docs/node_modules/.package-lock.json
if ! { [ -f "$npm_stamp" ] && cmp -s tools/docs/package-lock.json "$npm_stamp.src"; }; then
  npm ci --prefix tools/docs --ignore-scripts --no-audit --no-fund --loglevel=error
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
  run) requirements; assets; python_tools ;;
  test) requirements; assets; python_tools; browser ;;
  assets) requirements; assets ;;
  python) python_tools ;;
  browser) browser ;;
  *) echo "usage: $0 [test|assets|python|browser]" >&2; exit 2 ;;
esac
