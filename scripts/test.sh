#!/usr/bin/env bash
# Every check and test: formatting, lints, the SAM template, unit tests, every events/ file
# through its function, black-box HTTP tests against local stacks this command starts and
# stops itself, and the benchmark in smoke mode so it keeps working.
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

step "layers: the dependency rule of docs/architecture.md"
scripts/check-layers.sh

step "template: cfn-lint, sam validate --lint"
.venv/bin/cfn-lint template.yaml
.venv/bin/sam validate --lint --template-file template.yaml
scripts/lint.sh  # actionlint and zizmor on .github/workflows, checkov on the template

step "build (function binaries and devstack, used by the black-box tests)"
cargo build --workspace --bins

step "tests: unit, events/, black-box HTTP"
log=target/test-output.log
cargo test --workspace --all-targets 2>&1 | tee "$log"

step "benchmark, smoke mode (one run of each; figures are never asserted)"
scripts/bench.sh smoke

awk '/^test result:/ { passed += $4; failed += $6 } END { printf "\ntests: %d passed, %d failed\n", passed, failed }' "$log"
