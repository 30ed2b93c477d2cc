#!/usr/bin/env bash
# The whole API on localhost: installs the tools, builds the functions, then `devstack up`
# (moto, the resources of template.yaml, every route, the SQS worker). Ctrl-C stops it all.
# Extra arguments go to devstack, e.g. `scripts/run.sh --param FrontendHost=http://localhost:3000`.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cargo build --workspace --bins
exec target/debug/devstack up --port "${PORT:-9000}" "$@"
