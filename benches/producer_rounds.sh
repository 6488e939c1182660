#!/usr/bin/env bash
# One round of the producer beside oha, each load generator on a fresh bare
# receiver (examples/bare_http), 200000 requests at concurrency 50 by
# default, reporting req/s and the load generator's CPU (user + system, from
# /usr/bin/time). Used to compare an old and a new producer_load binary
# interleaved in the same minutes (BENCHMARKS.md, "The producer's own HTTP
# client").
#
# Usage: OLD=DIR NEW=DIR benches/producer_rounds.sh N CONCURRENCY WHO...
#   DIR: a target/release/examples directory holding producer_load (NEW
#   also bare_http); WHO: oha, old or new, in the order to run them.
# Wrap each round in `flock /tmp/hookproof-bench.lock` on a shared machine.
set -euo pipefail
n=$1
conc=$2
shift 2
new=${NEW:?NEW=DIR of the new examples}
old=${OLD:-}
# shellcheck source=support/serve.sh
source "$(dirname "$0")/support/serve.sh"
printf '%s' '{"type":"zen:event-type:ticket.created","account_id":1,"detail":{"id":"1001","subject":"Printer on fire","status":"new","requester_id":"42","priority":"high"},"time":"2026-11-30T00:00:00Z"}' >"$work/event.json"
for who in "$@"; do
    start bare URL "$new/bare_http"
    at=$(date -u +%H:%M:%S)
    load=$(cut -d' ' -f1 /proc/loadavg)
    case $who in
    oha)
        /usr/bin/time -f "%U %S" -o "$work/time" oha --no-tui --output-format json -n "$n" -c "$conc" \
            -m POST -T application/json -D "$work/event.json" "$url/webhooks/helpdesk" >"$work/oha.json"
        rps=$(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['summary']['requestsPerSec']))" "$work/oha.json")
        result=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['statusCodeDistribution'])" "$work/oha.json")
        ;;
    old | new)
        dir=$new
        [ "$who" = old ] && dir=${old:?OLD=DIR of the old examples}
        line=$(/usr/bin/time -f "%U %S" -o "$work/time" "$dir/producer_load" "$url/webhooks/helpdesk" "$n" "$conc" "$work/event.json")
        rps=$(sed -n 's/.* rps=\([0-9]*\).*/\1/p' <<<"$line")
        result=$(sed -n 's/.*\(acked=[0-9]*\) \(attempts=[0-9]*\).*/\1 \2/p' <<<"$line")
        ;;
    *)
        echo "unknown load generator $who (oha, old, new)" >&2
        exit 2
        ;;
    esac
    cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/time")
    echo "$at load=$load $who rps=$rps cpu=${cpu}s $result"
    stop
done
