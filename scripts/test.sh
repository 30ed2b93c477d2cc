#!/usr/bin/env bash
# Every check and test: formatting, lints, the SAM template, unit tests, every events/ file
# through its function, black-box HTTP tests against local stacks this command starts and
# stops itself, the browser test of /docs, schemathesis over the OpenAPI document, and the
# benchmark in smoke mode so it keeps working.
set -euo pipefail
cd "$(dirname "$0")/.."

export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
step() { printf '\n== %s\n' "$*"; }

step "tools"
scripts/setup.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "template: cfn-lint, sam validate --lint"
.venv/bin/cfn-lint template.yaml
.venv/bin/sam validate --lint --template-file template.yaml
scripts/lint.sh  # actionlint and zizmor on .github/workflows, checkov on the template

step "build (function binaries and devstack, used by the black-box tests)"
cargo build --workspace --bins

step "tests: unit, events/, black-box HTTP"
log=target/test-output.log
cargo test --workspace --all-targets 2>&1 | tee "$log"

step "browser: /docs and /redoc in chromium (tests/browser/docs.mjs)"
node tests/browser/docs.mjs | tee target/browser-output.log

step "schemathesis: every check, as a user and as the superuser (scripts/fuzz.sh)"
scripts/fuzz.sh

step "benchmark, smoke mode (one run of each; figures are never asserted)"
scripts/bench.sh smoke

cat target/browser-output.log >>"$log"
awk '/^test result:/ { passed += $4; failed += $6 }
     /^browser: [0-9]+ passed, [0-9]+ failed$/ { passed += $2; failed += $4 } END { printf "\ntests: %d passed, %d failed\n", passed, failed }' "$log"
