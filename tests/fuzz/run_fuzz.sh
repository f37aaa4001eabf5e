#!/usr/bin/env bash
# Runs one libFuzzer target for FUZZ_SECONDS (default 5) over its seeds, keeping what it finds
# in a corpus directory of the build tree. Fails on a crash, a leak, a timeout or an OOM.
set -euo pipefail
target=$1 corpus=$2 seeds=$3
mkdir -p "$corpus"
exec "$target" -max_total_time="${FUZZ_SECONDS:-5}" -rss_limit_mb=2048 -timeout=10 \
  -max_len=65536 -print_final_stats=1 "$corpus" "$seeds"
