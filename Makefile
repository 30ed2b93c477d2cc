# The two commands of the README, and their parts.
.PHONY: run test setup bench fmt

run:  ## the whole API on http://127.0.0.1:9000 (PORT=… to change)
	scripts/run.sh

test: ## every check and test; what CI runs
	scripts/test.sh

bench: ## cold start, latency, memory and size of every function (bench/results.md)
	scripts/bench.sh

setup: ## install the pinned local tools into .venv
	scripts/setup.sh

fmt:
	cargo fmt --all
