#!/usr/bin/env bash
# campaign.sh - a long fuzzing campaign, in parts: each part runs every
# target for SECONDS from the corpus the previous parts grew (kept in
# build-fuzz/campaign/<target>, seeded from the committed corpus), and the
# script adds up the executions until TOTAL is reached. It prints one line
# per part and target and a summary (the numbers docs/reliability.md quotes).
# A finding stops the campaign and says where the input is.
#
#   TOTAL=10000000 SECONDS_PER_PART=300 bash fuzz/campaign.sh
#   TARGETS="fuzz_state fuzz_checkpoint" ...    (default: every fuzz/fuzz_*.c)
#   CAMPAIGN_TAG=b ...   (a second campaign beside the first, one per core:
#                         its part logs are named apart; the corpora are shared)
#
# .ci/fuzz.sh builds the targets (FUZZ_SECONDS=1 is enough for the build).
set -euo pipefail
cd "$(dirname "$0")/.."
total=${TOTAL:-10000000}
part_s=${SECONDS_PER_PART:-300}
targets=${TARGETS:-$(for f in fuzz/fuzz_*.c; do basename "$f" .c; done)}
out=build-fuzz
[ -d "$out/obj" ] || FUZZ_SECONDS=1 .ci/fuzz.sh >/dev/null
declare -A seeds=(
    [fuzz_checkpoint]="fuzz/corpus/checkpoint fuzz/corpus/state tests/corpus/safetensors"
    [fuzz_state]="fuzz/corpus/state"
    [fuzz_text]="fuzz/corpus/text"
    [fuzz_entry]="fuzz/corpus/checkpoint fuzz/corpus/state"
)
declare -A done_by
sum=0 part=0
for t in $targets; do done_by[$t]=0; done
while [ "$sum" -lt "$total" ]; do
    part=$((part + 1))
    for t in $targets; do
        [ -x "$out/$t" ] || { echo "campaign: $out/$t is not built (run .ci/fuzz.sh)" >&2; exit 1; }
        work="$out/campaign/$t"
        art="$out/campaign-artifacts/$t"
        mkdir -p "$work" "$art"
        log="$out/campaign/$t.part$part${CAMPAIGN_TAG:+.$CAMPAIGN_TAG}.log"
        if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
            "./$out/$t" -max_total_time="$part_s" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
            -print_final_stats=1 -artifact_prefix="$art/" "$work" ${seeds[$t]:-} >"$log" 2>&1; then
            tail -n 40 "$log"
            echo "campaign: FINDING in $t, part $part (log $log; input in $art/)"
            exit 1
        fi
        n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        corpus=$(find "$work" -type f | wc -l)
        done_by[$t]=$((done_by[$t] + n))
        sum=$((sum + n))
        echo "part $part  $t  $n executions ($rate/s), corpus $corpus inputs, total so far $sum"
    done
done
echo "== campaign: $sum executions in $part parts of ${part_s}s per target, no findings"
for t in $targets; do echo "   $t: ${done_by[$t]} executions, corpus $(find "$out/campaign/$t" -type f | wc -l) inputs"; done
