#!/usr/bin/env bash
# Every check and test: formatting, lints, the SAM template, unit tests, every events/ file
# through its function, black-box HTTP tests against local stacks this command starts and
# stops itself, the browser test of /docs, the commands of the README and docs/ against a
# `make run` stack, schemathesis over the OpenAPI document, and the benchmark in smoke mode so
# it keeps working.
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

step() { # name, command...
  local name=$1 started=$SECONDS status
  shift
  printf '\n== %s\n' "$name"
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

template() {
  .venv/bin/cfn-lint template.yaml &&
    .venv/bin/sam validate --lint --template-file template.yaml &&
    scripts/lint.sh # actionlint and zizmor on .github/workflows, checkov on the template
}

step "tools" scripts/setup.sh test
step "cargo fmt --check" cargo fmt --all -- --check
step "clippy -D warnings" cargo clippy --workspace --all-targets -- -D warnings
step "layers: the dependency rule of docs/architecture.md" scripts/check-layers.sh
step "template: cfn-lint, sam validate --lint, workflows and checkov" template
step "build (function binaries and devstack, used by the black-box tests)" cargo build --workspace --bins

# --no-fail-fast: a failing test binary does not keep the others from running.
step "tests: unit, events/, black-box HTTP" \
  bash -o pipefail -c 'cargo test --workspace --all-targets --no-fail-fast 2>&1 | tee target/test-output.log'
count $? target/test-output.log ""

step "browser: /docs and /redoc in chromium (tests/browser/docs.mjs)" \
  bash -o pipefail -c 'node tests/browser/docs.mjs 2>&1 | tee target/browser-output.log'
count $? target/browser-output.log browser

step "docs: the README's and docs/'s commands on a make run stack, links, deploy files (tests/readme/commands.py)" \
  bash -o pipefail -c 'python3 tests/readme/commands.py 2>&1 | tee target/readme-output.log'
count $? target/readme-output.log readme

step "schemathesis: every check, as a user and as the superuser (scripts/fuzz.sh)" scripts/fuzz.sh
step "benchmark, smoke mode (one run of each; figures are never asserted)" scripts/bench.sh smoke

printf '\n== summary\n'
printf '%s\n' "${summary[@]}"
printf '\ntests: %d passed, %d failed\n' "$passed" "$failed"
if [ "${#failed_steps[@]}" -eq 0 ] && [ "$failed" -eq 0 ]; then
  echo "make test: ok"
else
  echo "make test: FAILED (${#failed_steps[@]} of ${#summary[@]} steps: $(IFS=';'; echo "${failed_steps[*]}"))"
  exit 1
fi
