#!/usr/bin/env bash
# Every check and test: formatting, lints, the SAM template, unit tests, every events/ file
# through its function, black-box HTTP tests against local stacks this command starts and
# stops itself, the browser test of /docs, schemathesis over the OpenAPI document, and the
# benchmark and the capacity meter in smoke mode so they keep working.
#
# The workspace is compiled once: clippy lints our crates as they are built for the tests
# (clippy-driver as the workspace's rustc wrapper, as `cargo clippy` runs it, but building
# instead of only checking), and every later step reuses that build. Installs that do not
# compile (the linters', schemathesis' and the browser's) run beside it.
set -euo pipefail
cd "$(dirname "$0")/.."

export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
step() { printf '\n== %s [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
mkdir -p target

step "tools"
scripts/setup.sh
# In the background while the workspace compiles: they download and unpack, they do not compile.
scripts/fuzz.sh install >target/install-fuzz.log 2>&1 &
fuzz_install=$!
scripts/lint.sh install >target/install-lint.log 2>&1 &
lint_install=$!
scripts/setup.sh browser >target/install-browser.log 2>&1 &
browser_install=$!
waited() { # pid log: the background install's status, its log on failure
  wait "$1" || { cat "$2"; return 1; }
}

step "cargo fmt --check"
cargo fmt --all -- --check

step "build, with clippy -D warnings on every workspace crate and target"
RUSTC_WORKSPACE_WRAPPER="$(command -v clippy-driver)"
CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
cargo test --workspace --all-targets --no-run

step "template: cfn-lint, sam validate --lint"
.venv/bin/cfn-lint template.yaml
.venv/bin/sam validate --lint --template-file template.yaml
waited "$lint_install" target/install-lint.log
scripts/lint.sh  # actionlint and zizmor on .github/workflows, checkov on the template

step "tests: unit, events/, black-box HTTP"
log=target/test-output.log
cargo test --workspace --all-targets 2>&1 | tee "$log"

step "browser: /docs and /redoc in chromium (tests/browser/docs.mjs)"
waited "$browser_install" target/install-browser.log
node tests/browser/docs.mjs | tee target/browser-output.log

step "schemathesis: every check, as a user and as the superuser (scripts/fuzz.sh)"
waited "$fuzz_install" target/install-fuzz.log
scripts/fuzz.sh

step "benchmark, smoke mode (one run of each, on the test build; figures are never asserted)"
scripts/bench.sh smoke

step "capacity meter, smoke mode (one pass of the mix through the metered stack)"
scripts/capacity.sh smoke

cat target/browser-output.log >>"$log"
awk '/^test result:/ { passed += $4; failed += $6 }
     /^browser: [0-9]+ passed, [0-9]+ failed$/ { passed += $2; failed += $4 } END { printf "\ntests: %d passed, %d failed\n", passed, failed }' "$log"
step "done"
