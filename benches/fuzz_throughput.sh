#!/usr/bin/env bash
# Fuzz throughput (generated cases per second) against the bundled reference
# receiver, side by side in one run with its baselines: state directories on
# disk instead of /dev/shm, fewer parallel cases, and the same campaign
# settling on a quiet period instead of the idle probe.
# Usage: benches/fuzz_throughput.sh [CASES]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=$PWD/target/release/hookproof
cases=${1:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fuzz() {
    local n=$1
    shift
    "$bin" fuzz --quiet --no-regressions --seed 42 --cases "$n" "$@" | head -1
}
echo "| configuration | result |"
echo "|---|---|"
echo "| idle probe, state in /dev/shm, --jobs 8 (the default) | $(fuzz "$cases" --jobs 8) |"
echo "| idle probe, state on disk (--work-dir $work), --jobs 8 | $(fuzz "$cases" --jobs 8 --work-dir "$work") |"
echo "| idle probe, state in /dev/shm, --jobs 1 | $(fuzz $((cases / 3)) --jobs 1) |"
echo "| no idle probe (quiet-period settle), --jobs 8 | $(fuzz $((cases / 3)) --jobs 8 --sut "$bin sut reference") |"
