#!/usr/bin/env bash
# call.sh URL [curl options...]: the workload example in shell. Calls an API
# with the Keyport token Secret mounted at $TOKEN_DIR (as a volume, not as
# environment variables or with subPath: those never update). It reads the
# files on every run, so a rotated token is used without a restart.
set -euo pipefail
export LC_ALL=C # byte order for the timestamp comparison
dir=${TOKEN_DIR:-/var/run/keyport/token}
url=${1:?usage: call.sh URL [curl options...]}
shift
[[ -r $dir/headers.json ]] || { echo "call.sh: no token Secret is mounted at $dir" >&2; exit 1; }
expires=$(<"$dir/expires_at") # RFC 3339 in UTC, so it sorts as text
[[ $(date -u +%Y-%m-%dT%H:%M:%SZ) < $expires ]] || { echo "call.sh: the token mounted at $dir expired at $expires" >&2; exit 1; }
# headers.json is a JSON object: Authorization plus the platform's static
# headers. curl reads them as "Name: value" lines from a file (-H @file),
# which keeps the token out of the process list.
headers=$(jq -er 'to_entries[] | "\(.key): \(.value)"' "$dir/headers.json")
curl -fsS --max-time 15 -H @<(printf '%s\n' "$headers") "$@" "$url"
