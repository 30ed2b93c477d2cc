# The two commands of the README, and their parts.
.PHONY: run test setup bench capacity package fmt

run:  ## the whole API on http://127.0.0.1:9000 (PORT=… to change)
	scripts/run.sh

test: ## every check and test; what CI runs
	scripts/test.sh

bench: ## cold start, latency, memory and size of every function (bench/results.md)
	scripts/bench.sh

capacity: ## the workload mix against a metered local stack: units, hot keys, cost (bench/capacity.md)
	scripts/capacity.sh

package: ## every function's arm64 deployment zip, as `sam build` builds it (target/lambda/)
	scripts/package.sh

setup: ## install the pinned local tools into .venv
	scripts/setup.sh

fmt:
	cargo fmt --all
