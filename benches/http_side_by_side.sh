#!/usr/bin/env bash
# HTTP side by side, in one run on this machine, under one load generator
# (oha), with one request: POST /crm/v3/objects/contacts, Bearer T, a JSON
# contact body.
#
#  1. Servers: the mock CRM (`hookproof mock crm`: validates every body
#     against the JSON Schema contracts and records every request) against a
#     bare hyper server answering 200 (the loopback ceiling) and a wiremock-rs
#     MockServer with one mock and request recording on. For each: req/s,
#     peak RSS (VmHWM after the load) and retained memory per request
#     ((VmRSS after N requests - VmRSS at start) / N).
#  2. Producer: hookproof's signed delivery (examples/producer_load.rs, the
#     real Producer) against oha at the same concurrency, same N, same event
#     body, against the same bare receiver.
#
# Usage: benches/http_side_by_side.sh [N] [CONCURRENCY]   (default 200000 50)
# Prints Markdown tables. Nothing here is hard-coded: every figure is measured.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200000}
conc=${2:-50}
export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || {
    echo "oha not found: cargo install oha --locked" >&2
    exit 2
}
cargo build --release --quiet --bin hookproof --examples
bin=$PWD/target/release
# shellcheck source=support/serve.sh
source benches/support/serve.sh

body='{"properties":{"email":"ada@example.com","firstname":"Ada"}}'

kib() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$pid/status"; }

# load URL: oha -n N -c CONC with the contact request; JSON to $work/oha.json
load() {
    oha --no-tui --output-format json -n "$n" -c "$conc" -m POST \
        -H "Authorization: Bearer T" -T application/json -d "$body" \
        "$1/crm/v3/objects/contacts" >"$work/oha.json"
}
# field EXPR: evaluates a Python expression on the oha JSON as `j`
field() { python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print($1)" "$work/oha.json"; }
statuses() { field "', '.join(f'{k}: {v}' for k, v in sorted(j['statusCodeDistribution'].items()))"; }

declare -A rps rss0 rss1 hwm codes
for server in bare wiremock crm; do
    case $server in
    bare) start bare URL "$bin/examples/bare_http" ;;
    wiremock) start wiremock URL "$bin/examples/wiremock_server" ;;
    crm) start crm HOOKPROOF_CRM_URL "$bin/hookproof" mock crm --token T ;;
    esac
    rss0[$server]=$(kib VmRSS)
    load "$url"
    sleep 0.5
    rss1[$server]=$(kib VmRSS)
    hwm[$server]=$(kib VmHWM)
    rps[$server]=$(field "round(j['summary']['requestsPerSec'])")
    codes[$server]=$(statuses)
    stop
done
per() { awk -v a="${rss0[$1]}" -v b="${rss1[$1]}" -v n="$n" 'BEGIN { printf "%.0f B", (b - a) * 1024 / n }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; }

echo "### Servers (oha -n $n -c $conc, POST /crm/v3/objects/contacts)"
echo
echo "| server | statuses | req/s | peak RSS | RSS start → after | retained per request |"
echo "|---|---|---|---|---|---|"
for s in bare wiremock crm; do
    case $s in
    bare) label="bare hyper 200 (examples/bare_http)" ;;
    wiremock) label="wiremock-rs MockServer, 1 mock, recording on (examples/wiremock_server)" ;;
    crm) label="hookproof mock crm --token T" ;;
    esac
    echo "| $label | ${codes[$s]} | ${rps[$s]} | $(mib "${hwm[$s]}") | $(mib "${rss0[$s]}") → $(mib "${rss1[$s]}") | $(per "$s") |"
done
echo
echo "Mock CRM: $(ratio "${rps[crm]}" "${rps[bare]}") of bare hyper (target ≥ 0.6×), $(ratio "${rps[crm]}" "${rps[wiremock]}") of wiremock-rs (target ≥ 1.5×), $(per crm) retained per recorded request (target ≤ 1 KB; wiremock-rs here: $(per wiremock))."
echo

# 2. Producer vs oha on one fresh bare receiver, same N and concurrency.
# Both send the same event body (a ticket.created-like JSON) with the same
# content type; the producer adds its signature and traceparent headers.
event='{"type":"zen:event-type:ticket.created","account_id":1,"detail":{"id":"1001","subject":"Printer on fire","status":"new","requester_id":"42","priority":"high"},"time":"2026-11-30T00:00:00Z"}'
printf '%s' "$event" >"$work/event.json"
start bare URL "$bin/examples/bare_http"
oha --no-tui --output-format json -n "$n" -c "$conc" -m POST \
    -T application/json -D "$work/event.json" "$url/webhooks/helpdesk" >"$work/oha.json"
oha_rps=$(field "round(j['summary']['requestsPerSec'])")
oha_codes=$(statuses)
line=$("$bin/examples/producer_load" "$url/webhooks/helpdesk" "$n" "$conc" "$work/event.json")
prod_rps=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
prod_acked=$(sed -n 's/.* acked=\([0-9]*\).*/\1/p' <<<"$line")
stop
echo "### Producer (same bare receiver, $n requests, concurrency $conc)"
echo
echo "| load generator | result | req/s |"
echo "|---|---|---|"
echo "| oha -n $n -c $conc, same event body, unsigned | $oha_codes | $oha_rps |"
echo "| hookproof Producer, same body, Zendesk-signed (examples/producer_load) | $prod_acked acked | $prod_rps |"
echo
echo "Producer: $(ratio "$prod_rps" "$oha_rps") of oha (target ≥ 1.0×)."
