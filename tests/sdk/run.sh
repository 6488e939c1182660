#!/usr/bin/env bash
# Runs the official HubSpot Python SDK (hubspot-api-client) against
# hookproof's mock CRM, changing only the host. Creates its venv under
# target/sdk-venv; starts `hookproof mock crm` on 127.0.0.1 and always stops it.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/sdk-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check "hubspot-api-client>=12,<13"
cargo build --release --quiet
token="sdk-test-$(date +%s%N)"
out=$(mktemp)
./target/release/hookproof mock crm --token "$token" >"$out" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$out"' EXIT
for _ in $(seq 1 100); do
  grep -q '^HOOKPROOF_CRM_URL=' "$out" && break
  sleep 0.1
done
url=$(sed -n 's/^HOOKPROOF_CRM_URL=//p' "$out")
if [ -z "$url" ]; then
  echo "the mock CRM did not start" >&2
  exit 1
fi
"$venv/bin/python" tests/sdk/hubspot_sdk_test.py "$url" "$token"
