#!/usr/bin/env bash
# Every check and test: formatting, lints, the SAM template, unit tests, every events/ file
# through its function, black-box HTTP tests against local stacks this command starts and
# stops itself, the browser test of /docs, the commands of the README and docs/ against a
# `make run` stack, schemathesis over the OpenAPI document, and the benchmark and the capacity
# meter in smoke mode so they keep working.
#
# The workspace is compiled once: clippy lints our crates as they are built for the tests
# (clippy-driver as the workspace's rustc wrapper, as `cargo clippy` runs it, but building
# instead of only checking), and every later step reuses that build. Installs that do not
# compile (the linters', schemathesis' and the browser's) run beside it.
#
# Every step runs even when an earlier one failed; then a summary lists each step with its time,
# the tally `tests: N passed, N failed` counts the tests the steps ran (a test step that failed
# without reporting a count, such as a build error, counts as one failure), and the exit status
# is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
mkdir -p target

summary=()
failed_steps=()
passed=0
failed=0
started_all=$SECONDS

step() { # name, command...
  local name=$1 started=$SECONDS status
  shift
  printf '\n== %s [%s]\n' "$name" "$(date -u +%H:%M:%S)"
  "$@"
  status=$?
  if [ "$status" -eq 0 ]; then
    summary+=("$(printf 'ok    %5d s  %s' $((SECONDS - started)) "$name")")
  else
    summary+=("$(printf 'FAIL  %5d s  %s (exit %d)' $((SECONDS - started)) "$name" "$status")")
    failed_steps+=("$name")
  fi
  return "$status"
}

# Adds a test step's counts to the tally: from `test result:` lines (cargo) or one
# `<name>: N passed, N failed` line; a failed step that reported no failure counts as one.
count() { # status, output file, line prefix (empty for cargo)
  local status=$1 out=$2 prefix=$3 counts p f
  if [ -z "$prefix" ]; then
    counts=$(awk '/^test result:/ { p += $4; f += $6 } END { print p + 0, f + 0 }' "$out")
  else
    counts=$(awk -v pre="$prefix:" '$1 == pre && $3 == "passed," { p += $2; f += $4 } END { print p + 0, f + 0 }' "$out")
  fi
  read -r p f <<<"$counts"
  [ "$status" -eq 0 ] || [ "$f" -gt 0 ] || f=1
  passed=$((passed + p))
  failed=$((failed + f))
}

waited() { # pid log: the background install's status, its log on failure
  wait "$1" || { cat "$2"; return 1; }
}

step "tools" scripts/setup.sh
# In the background while the workspace compiles: they download and unpack, they do not compile.
scripts/fuzz.sh install >target/install-fuzz.log 2>&1 &
fuzz_install=$!
scripts/lint.sh install >target/install-lint.log 2>&1 &
lint_install=$!
scripts/setup.sh browser >target/install-browser.log 2>&1 &
browser_install=$!

step "cargo fmt --check" cargo fmt --all -- --check

RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
# The test build compiles each binary as its own unit tests only: the executables that the
# black-box tests, the browser test and the smoke runs start (target/debug/devstack and every
# function) are linked by `cargo build --bins`, from the same compiled libraries.
build() {
  cargo test --workspace --all-targets --no-run && cargo build --workspace --bins
}
step "build, with clippy -D warnings on every workspace crate and target" build

template() {
  .venv/bin/cfn-lint template.yaml &&
    .venv/bin/sam validate --lint --template-file template.yaml &&
    waited "$lint_install" target/install-lint.log &&
    scripts/lint.sh # actionlint and zizmor on .github/workflows, checkov on the template
}
step "template: cfn-lint, sam validate --lint, workflows and checkov" template

# --no-fail-fast: a failing test binary does not keep the others from running.
step "tests: unit, events/, black-box HTTP" \
  bash -o pipefail -c 'cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee target/test-output.log'
count $? target/test-output.log ""

waited "$browser_install" target/install-browser.log
step "browser: /docs and /redoc in chromium (tests/browser/docs.mjs)" \
  bash -o pipefail -c 'node tests/browser/docs.mjs 2>&1 | tee target/browser-output.log'
count $? target/browser-output.log browser

step "docs: the README's and docs/'s commands on a make run stack, links, deploy files (tests/readme/commands.py)" \
  bash -o pipefail -c 'python3 tests/readme/commands.py 2>&1 | tee target/readme-output.log'
count $? target/readme-output.log readme

fuzz() { waited "$fuzz_install" target/install-fuzz.log && scripts/fuzz.sh; }
step "schemathesis: every check, as a user and as the superuser (scripts/fuzz.sh)" fuzz
step "benchmark, smoke mode (one run of each, on the test build; figures are never asserted)" \
  scripts/bench.sh smoke
step "capacity meter, smoke mode (one pass of the mix through the metered stack)" \
  scripts/capacity.sh smoke

printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
printf '\ntests: %d passed, %d failed\n' "$passed" "$failed"
printf 'make test: %d s\n' $((SECONDS - started_all))
if [ "${#failed_steps[@]}" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "make test: ok"
else
  echo "make test: FAILED (${#failed_steps[@]} of ${#summary[@]} steps: $(IFS=';'; echo "${failed_steps[*]}"))"
  exit 1
fi
