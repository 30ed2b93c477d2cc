#!/usr/bin/env bash
# `make capacity`: the workload mix of bench/capacity/mix.json against a local stack that meters
# every AWS call of the functions (devstack up --meter), turned into read and write units by
# partition, a cost per million requests (bench/capacity/prices.json) and the request rate of
# the first throttle. Writes bench/capacity.md and keeps each run in bench/capacity.json by label.
#   scripts/capacity.sh [LABEL]    full: release build, 10 requests of each route (LABEL: after)
#   scripts/capacity.sh smoke      one request of each, on the debug build `make test` made,
#                                  results in target/capacity-smoke/ (what CI runs)
set -euo pipefail
cd "$(dirname "$0")/.."

label="${1:-after}"
if [ "$label" = smoke ]; then
  bin=target/debug runs="${CAPACITY_RUNS:-1}" out=target/capacity-smoke
  mkdir -p "$out"
  cp bench/capacity.json "$out/capacity.json" 2>/dev/null || true
  cargo build --workspace --bins
else
  bin=target/release runs="${CAPACITY_RUNS:-10}" out=bench
  scripts/setup.sh
  # Every function of functions.txt, the stack and the harness (make bench's build, less the floor).
  mapfile -t functions < <(awk '!/^#/ && NF { print "-p"; print $1 }' functions.txt)
  cargo build --release "${functions[@]}" -p devstack -p bench
fi

log="$out/capacity-stack.log"
mkdir -p "$out"
: >"$log"
# The mix's WebSocket clients are 10 per user, all from one address, and its sends come from
# few users: the realtime abuse limits (per user and per address) are raised so that the meter
# counts the work of every request, not refusals.
realtime_limits=(--param RealtimeConnectionsPerUser=100000 --param RealtimeConnectsPerUser=100000
  --param RealtimeConnectsPerAddress=100000 --param RealtimeFramesPerUser=100000)
"$bin/devstack" up --port 0 --meter --bin-dir "$bin" "${realtime_limits[@]}" --exit-with-parent $$ >"$log" 2>&1 &
stack_pid=$!
trap 'kill "$stack_pid" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 300); do
  url=$(sed -n 's/^READY //p' "$log")
  [ -n "$url" ] && break
  kill -0 "$stack_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
[ -n "$url" ] || { echo "capacity: the local stack did not start" >&2; cat "$log"; exit 1; }

"$bin/capacity" --stack "$url" --runs "$runs" --label "$label" \
  --results "$out/capacity.json" --out "$out/capacity.md"
