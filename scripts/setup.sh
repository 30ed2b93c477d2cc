#!/usr/bin/env bash
# Installs the project's local tooling (moto, cfn-lint, SAM CLI) into .venv at pinned versions.
# Safe to run again: it does nothing when .venv already matches requirements-dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.requirements-dev.txt"
if [ -x "$venv/bin/moto_server" ] && [ -f "$stamp" ] && cmp -s requirements-dev.txt "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r requirements-dev.txt
cp requirements-dev.txt "$stamp"
echo "setup: tools installed in $venv"
