#!/usr/bin/env bash
# Schemathesis (pinned in requirements-fuzz.txt, installed into .venv-fuzz) against a local stack
# of its own, with every check it has, twice: as an ordinary user and as the first superuser.
# Needs the built workspace (target/debug/devstack and the functions). Zero failures or it fails.
#   FUZZ_MAX_EXAMPLES=n   cases per operation and phase (default 25)
#   FUZZ_SEED=n           the seed (default fixed, so a failure reproduces; "random" for a new one)
#   scripts/fuzz.sh install   only install schemathesis
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-fuzz
stamp="$venv/.requirements-fuzz.txt"
if ! { [ -x "$venv/bin/st" ] && cmp -s requirements-fuzz.txt "$stamp"; }; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-pip.txt
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-fuzz.txt
  cp requirements-fuzz.txt "$stamp"
fi
[ "${1:-}" != install ] || exit 0

out=target/fuzz
rm -rf "$out" && mkdir -p "$out"
target/debug/devstack up --port 0 --exit-with-parent $$ >"$out/stack.log" 2>&1 &
stack=$!
trap 'kill -TERM "$stack" 2>/dev/null; wait "$stack" 2>/dev/null || true' EXIT
url=
for _ in $(seq 1 180); do
  url=$(sed -n 's/^READY //p' "$out/stack.log")
  [ -n "$url" ] && break
  kill -0 "$stack" 2>/dev/null || { cat "$out/stack.log"; exit 1; }
  sleep 0.5
done
[ -n "$url" ] || { echo "fuzz: the local stack did not start" >&2; cat "$out/stack.log"; exit 1; }

seed=()
[ "${FUZZ_SEED:-}" = random ] || seed=(--seed "${FUZZ_SEED:-20261127}")
status=0
run() { # who email password signup
  local who=$1 log="$out/$1.log"
  echo "schemathesis as $who ($2)"
  set +e
  SCHEMATHESIS_HOOKS=tools/fuzz/hooks.py FUZZ_URL="$url" FUZZ_EMAIL="$2" FUZZ_PASSWORD="$3" FUZZ_SIGNUP="$4" \
    "$venv/bin/st" --config-file tools/fuzz/schemathesis.toml --no-color run "$url/api/v1/openapi.json" \
    --checks all --max-examples "${FUZZ_MAX_EXAMPLES:-25}" "${seed[@]}" \
    --report junit --report-junit-path "$out/$who.xml" >"$log" 2>&1
  local code=$?
  set -e
  # The summary: failures (if any), then the number of generated cases.
  sed -n '/^=* FAILURES =*$/,$p' "$log"
  [ "$code" -eq 0 ] || { [ -s "$log" ] && tail -5 "$log"; status=1; }
  local cases
  cases=$(grep -oE '[0-9]+ generated' "$log" | tail -1 | cut -d' ' -f1)
  echo "fuzz: $who: ${cases:-0} cases, exit $code"
}
run user "fuzz-user-$$@example.com" "fuzz-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')" 1
run superuser "${FIRST_SUPERUSER:-admin@example.com}" "${FIRST_SUPERUSER_PASSWORD:-changethis}" 0
exit "$status"
