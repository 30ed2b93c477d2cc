#!/usr/bin/env bash
# `make bench`: builds every function, the floor and the harness with the release profile,
# starts a local stack, and measures each function beside the floor and FastAPI + Mangum.
#   scripts/bench.sh          full run: 15 cold starts, 1000 warm invokes per route → bench/
#   scripts/bench.sh smoke    one of each, results in target/bench-smoke/ (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-full}"
case "$mode" in
  full) runs=15; warm=1000; out=bench ;;
  smoke) runs=1; warm=5; out=target/bench-smoke ;;
  *) echo "usage: $0 [full|smoke]" >&2; exit 2 ;;
esac

scripts/setup.sh
stamp=.venv/.requirements-bench.txt
if ! cmp -s requirements-bench.txt "$stamp"; then
  .venv/bin/python -m pip install --quiet -r requirements-bench.txt
  cp requirements-bench.txt "$stamp"
fi

# Every function of functions.txt but docs, with the floor, the stack and the harness. The stack
# serves the docs function too; built apart, so the measured functions do not compile shared's
# `openapi` feature (as scripts/package.sh builds them).
mapfile -t measured < <(awk '!/^#/ && NF && $3 != "docs" { print "-p"; print $1 }' functions.txt)
mapfile -t docs < <(awk '!/^#/ && NF && $3 == "docs" { print "-p"; print $1 }' functions.txt)
cargo build --release "${measured[@]}" -p floor -p devstack -p bench
cargo build --release "${docs[@]}"

log=target/bench-stack.log
target/release/devstack up --port 0 --bin-dir target/release --exit-with-parent $$ > "$log" 2>&1 &
stack_pid=$!
trap 'kill "$stack_pid" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^READY //p' "$log")
  [ -n "$url" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "the local stack did not start" >&2; cat "$log"; exit 1; }

mkdir -p "$out"
target/release/bench --stack "$url" --release-dir target/release --python .venv/bin/python \
  --runs "$runs" --warm "$warm" --out "$out"
.venv/bin/python bench/chart.py "$out/results.json" "$out/chart.png"
echo "bench: results in $out/results.md, chart in $out/chart.png"
