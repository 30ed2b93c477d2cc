#!/usr/bin/env bash
# `make package`: every function's deployment zip for Lambda arm64 (Graviton), built the way
# `sam build` builds it (cargo-lambda, release profile, zig as the cross linker), into
# target/lambda/<function>/bootstrap.zip, and a table of their sizes.
#   scripts/package.sh        build and list the zips
#   scripts/package.sh tools  only install the pinned build tools into .venv (the deploy workflow)
#   CARGO_TARGET_DIR=…        keeps the arm64 objects apart from the x86_64 ones, if set
set -euo pipefail
cd "$(dirname "$0")/.."

# functions.txt lists them.
mapfile -t functions < <(awk '!/^#/ && NF { print $1 }' functions.txt)

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.requirements-package.txt
if ! cmp -s requirements-package.txt "$stamp"; then
  .venv/bin/python -m pip install --quiet --require-hashes -r requirements-pip.txt
  .venv/bin/python -m pip install --quiet --require-hashes -r requirements-package.txt
  cp requirements-package.txt "$stamp"
fi
if command -v rustup >/dev/null; then
  rustup target add aarch64-unknown-linux-gnu >/dev/null
fi
# functions/docs builds the Swagger UI and Redoc assets in: tools/docs, pinned by its lock file.
npm_stamp=tools/docs/node_modules/.package-lock.json
if ! { [ -f "$npm_stamp" ] && cmp -s tools/docs/package-lock.json "$npm_stamp.src"; }; then
  npm ci --prefix tools/docs --ignore-scripts --no-audit --no-fund --loglevel=error
  cp tools/docs/package-lock.json "$npm_stamp.src"
fi
[ "${1:-}" != tools ] || exit 0
# cargo-lambda runs as `cargo lambda` and finds zig through the venv's python (ziglang).
export PATH="$PWD/.venv/bin:$PATH"

# One build for all of them shares the dependency build (`sam build` builds each function alone,
# with `--bin <name>`: the same crates, since no function enables a feature another lacks). The
# docs function builds the Swagger UI and Redoc assets in (tools/docs, installed above).
packages=()
for f in "${functions[@]}"; do packages+=(-p "$f"); done
cargo lambda build --release --arm64 --output-format zip --lambda-dir target/lambda "${packages[@]}"

# The zip limit is the bench's: 3 MB (MiB) per function.
limit=$((3 * 1024 * 1024))
over=0
printf '\n| function | arm64 zip MB |\n|---|---:|\n'
for f in "${functions[@]}"; do
  size=$(stat -c %s "target/lambda/$f/bootstrap.zip")
  awk -v f="$f" -v s="$size" 'BEGIN { printf "| %s | %.2f |\n", f, s / 1048576 }'
  [ "$size" -le "$limit" ] || { echo "package: $f is over 3 MB" >&2; over=1; }
done
exit "$over"
