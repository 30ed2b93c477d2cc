#!/usr/bin/env bash
# The dependency rule of docs/architecture.md: domain imports no other layer and no AWS or HTTP
# crate; store and aws never import the HTTP edge. Prints each offending line and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
check() {
  local what=$1 pattern=$2; shift 2
  if grep -rnE "$pattern" "$@"; then
    echo "layers: $what" >&2
    status=1
  fi
}
check "domain must not use http, store, aws, lambda_http or the AWS SDK" \
  'crate::(http|store|aws|context|testing)|lambda_http|aws_sdk_|aws_smithy_|aws_types|aws_lambda_events' shared/src/domain
check "store and aws must not use the HTTP edge" \
  'crate::(http|context|testing)|lambda_http' shared/src/store shared/src/aws
check "no 'parsed without values' branches: read requests with request.body/query/form::<T>()" \
  'parsed without' shared/src functions
[ "$status" -eq 0 ] && echo "layers: ok"
exit "$status"
