#!/usr/bin/env bash
# Regenerates the Python lock files from the pins people edit: requirements-<name>.in, the
# top-level packages, become requirements-<name>.txt, every package they pull in pinned too and
# each with the SHA-256 of every file PyPI has of that version (every platform's wheel and the
# sdist), which the scripts install with `pip install --require-hashes`.
#   scripts/lock.sh            all of them, after editing a .in file
#   scripts/lock.sh dev bench  only these (bench and package are locked against dev's lock:
#                              they share .venv; a change of dev's relocks them too)
#   scripts/lock.sh --upgrade  each dependency at its newest version that the pins allow
#                              (--upgrade-package NAME: only that one); without either, the
#                              versions already locked are kept where they still fit
# requirements-pip.txt is pip itself, which each script installs first into a new venv (the
# one `python3 -m venv` brings may be too old for hash-checking mode); requirements-lock.txt is
# pip-tools, for this script.
# pip-tools (pip-compile), hash-pinned itself in requirements-lock.txt, runs from a scratch venv
# under ${TMPDIR:-/tmp}, removed at the end. pip-compile resolves for the Python it runs on, so
# this runs on the oldest one the project supports, 3.11 (Debian 12's; python3.11, or PYTHON=…):
# a version locked there installs on 3.12 (CI's, Ubuntu 24.04's) and 3.13 too, whereas a lock
# made on 3.12 may pin a release that has dropped 3.11 (numpy 2.5 has).
set -euo pipefail
cd "$(dirname "$0")/.."

names=()
options=()
while [ $# -gt 0 ]; do
  case "$1" in
    --upgrade) options+=(--upgrade) ;;
    --upgrade-package) options+=(--upgrade-package "$2"); shift ;;
    pip|dev|lint|fuzz|bench|build|package|lock) names+=("$1") ;;
    *) echo "usage: $0 [--upgrade | --upgrade-package NAME] [pip|dev|lint|fuzz|bench|build|package|lock]..." >&2; exit 2 ;;
  esac
  shift
done
# In this order: bench and package are compiled with dev's lock as constraints (-c in their .in
# files), build (pyvips' build requirements) with dev's and bench's, pip-tools' with pip's;
# relocking one relocks those that read it.
[ ${#names[@]} -gt 0 ] || names=(pip dev lint fuzz bench build package lock)
case " ${names[*]} " in *" pip "*) names+=(lock) ;; esac
case " ${names[*]} " in *" dev "*) names+=(bench build package) ;; esac
case " ${names[*]} " in *" bench "*) names+=(build) ;; esac
selected=" ${names[*]} "
names=()
for name in pip dev lint fuzz bench build package lock; do
  case "$selected" in *" $name "*) names+=("$name") ;; esac
done

# The locks name PyPI's files: no local wheel directory or extra index of this machine.
unset PIP_FIND_LINKS PIP_EXTRA_INDEX_URL

scratch=$(mktemp -d "${TMPDIR:-/tmp}/lock.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
python=${PYTHON:-$(command -v python3.11 || echo python3)}
version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$version" != 3.11 ]; then
  echo "lock: $python is Python $version; the locks are made on 3.11 (PYTHON=path/to/python3.11)" >&2
  exit 1
fi
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/python" -m pip install --quiet --require-hashes -r requirements-pip.txt
"$scratch/venv/bin/python" -m pip install --quiet --require-hashes -r requirements-lock.txt

for name in "${names[@]}"; do
  echo "lock: requirements-$name.in → requirements-$name.txt"
  # --allow-unsafe: pip and setuptools are pinned and hashed too when something depends on them
  # (with --require-hashes an unpinned one would stop the install). --strip-extras: a lock can
  # be a constraints file (pip refuses extras there). The header names this script.
  CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "$scratch/venv/bin/pip-compile" --quiet \
    --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links \
    ${options[@]+"${options[@]}"} --output-file "requirements-$name.txt" "requirements-$name.in"
done
