#!/usr/bin/env bash
# Audit log benchmark: append throughput (one transaction per event, and
# batched) and `audit verify` time for a 1,000,000-event log.
#   bench/audit.sh              # 1,000,000 events
#   WARDEN_BENCH_EVENTS=100000 bench/audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench -p warden --bench audit
