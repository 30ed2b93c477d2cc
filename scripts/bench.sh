#!/usr/bin/env bash
# `make bench`: builds every function, the floor and the harness with the release profile,
# starts a local stack, and measures each function beside the floor and FastAPI + Mangum.
#   scripts/bench.sh          full run: 15 cold starts, 1000 warm invokes per route → bench/
#   scripts/bench.sh smoke    one of each on the debug build `make test` made, results in
#                             target/bench-smoke/ (what CI runs: the harness keeps working),
#                             and the realtime load test in small (40 connections, 4 rooms, 8 s),
#                             which fails the run when a delivery is missing or a record is left
# Extra arguments go to the harness, e.g. `scripts/bench.sh full --only realtime`.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-full}"
shift || true
case "$mode" in
  full) runs=15; warm=1000; out=bench; bin=target/release
    realtime=(--fan-out 100,1000 --load 1000,20,60,20) ;;
  smoke) runs=1; warm=5; out=target/bench-smoke; bin=target/debug
    realtime=(--fan-out 20 --load 40,4,8,10) ;;
  *) echo "usage: $0 [full|smoke]" >&2; exit 2 ;;
esac

scripts/setup.sh
# pyvips comes as an sdist only: its build requirements are installed first, hash-checked
# (requirements-build.txt), and it is built with them (--no-build-isolation), where an isolated
# build would fetch setuptools, cffi and pkgconfig from PyPI unchecked.
stamp=.venv/.requirements-bench.txt
if ! cat requirements-build.txt requirements-bench.txt | cmp -s - "$stamp"; then
  .venv/bin/python -m pip install --quiet --require-hashes -r requirements-build.txt
  .venv/bin/python -m pip install --quiet --require-hashes --no-build-isolation -r requirements-bench.txt
  cat requirements-build.txt requirements-bench.txt > "$stamp"
fi

# Every function of functions.txt, with the floor, the stack and the harness.
mapfile -t functions < <(awk '!/^#/ && NF { print "-p"; print $1 }' functions.txt)
if [ "$mode" = full ]; then
  cargo build --release "${functions[@]}" -p floor -p devstack -p bench
else
  cargo build --workspace --bins
fi

log=target/bench-stack.log
# Users of 10 connections each open the fan-out's sockets (1,000 in the largest room) and send, and
# the $connect figure is 1000 handshakes of one user from one address: the realtime abuse limits
# (per user and per address, and the room cap) are raised so that they measure the work, not the
# refusals.
realtime_limits=(--param RealtimeConnectionsPerUser=100000 --param RealtimeConnectsPerUser=100000
  --param RealtimeConnectsPerAddress=100000 --param RealtimeFramesPerUser=100000
  --param RealtimeRoomMembers=100000)
# Emptied before the stack starts: the loop below must not read a READY line of an earlier run.
: >"$log"
"$bin/devstack" up --port 0 --bin-dir "$bin" "${realtime_limits[@]}" --exit-with-parent $$ > "$log" 2>&1 &
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
"$bin/bench" --stack "$url" --release-dir "$bin" --python .venv/bin/python \
  --runs "$runs" --warm "$warm" --out "$out" --stack-log "$log" "${realtime[@]}" "$@"
.venv/bin/python bench/chart.py "$out/results.json" "$out/chart.png"
echo "bench: results in $out/results.md, chart in $out/chart.png"
