#!/bin/bash
# bench/memory.sh - peak memory of training against PyTorch's, with and
# without --recompute (the LSTM/GRU gates made again in the backward instead
# of kept) and --bf16, and what recompute costs in speed; the same machine,
# interleaved (recur keep, recompute, bf16, bf16 + recompute, PyTorch; PAIRS
# rounds). Prints a markdown table (its discussion: bench/analysis.md, "Memory: recompute", in docs/benchmarks.md) and keeps the
# raw JSON lines in $OUT/runs.jsonl.
#
# Settings (environment):
#   PAIRS=2  SECONDS_PER_RUN=3  THREADS=1  CELLS="lstm gru"
#   SHAPES="512,2,64,100 1024,1,128,100"   (H,L,B,T)   BUILD=build
#   OUT=bench/results/memory-<date>   TORCH=1 (0: recur only)
# Peak RSS is the whole process's maximum resident set (getrusage), as in
# bench/run.sh; PyTorch runs as there (OPENBLAS_NUM_THREADS=1,
# OPENBLAS_CORETYPE=SkylakeX).
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-2}
SECS=${SECONDS_PER_RUN:-3}
THREADS=${THREADS:-1}
CELLS=${CELLS:-"lstm gru"}
SHAPES=${SHAPES:-"512,2,64,100 1024,1,128,100"}
BUILD=${BUILD:-build}
TORCH=${TORCH:-1}
OUT=${OUT:-bench/results/memory-$(date -u +%Y%m%d-%H%M%S)}
PY=/usr/bin/python3
mkdir -p "$OUT"
RAW="$OUT/runs.jsonl"
: >"$RAW"

echo "building recur (Release) in $BUILD" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target recur_cli >/dev/null
RECUR="$BUILD/recur"
if [ "$TORCH" = 1 ] && ! $PY -c 'import torch' 2>/dev/null; then
    echo "no PyTorch for $PY; recur only" >&2
    TORCH=0
fi
echo "{\"kind\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\",\"git\":\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)\",\"pairs\":$PAIRS,\"seconds\":$SECS}" >>"$RAW"

run_recur() { # impl th cell H L B T pair flags...
    local impl=$1 th=$2 cell=$3 H=$4 L=$5 B=$6 T=$7 pair=$8 j
    shift 8
    j=$("$RECUR" bench --cell "$cell" --hidden "$H" --layers "$L" --batch "$B" --seq "$T" \
        --threads "$th" --seconds "$SECS" --sample-seconds 0.01 --json "$@" 2>/dev/null) || { echo "recur bench failed: $impl $cell $H" >&2; return 0; }
    echo "{\"impl\":\"$impl\",\"pair\":$pair,${j#\{}" >>"$RAW"
}
run_torch() { # th cell H L B T pair
    local j
    j=$(env OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS="$1" \
        $PY bench/torch_charlm.py --cell "$2" --hidden "$3" --layers "$4" --batch "$5" --seq "$6" \
        --threads "$1" --seconds "$SECS" --json) || { echo "torch run failed: $*" >&2; return 0; }
    echo "{\"pair\":$7,${j#\{}" >>"$RAW"
}

for th in $THREADS; do
    for shape in $SHAPES; do
        IFS=, read -r H L B T <<<"$shape"
        for cell in $CELLS; do
            for pair in $(seq 1 "$PAIRS"); do
                echo "th=$th $cell H$H L$L B$B T$T pair $pair" >&2
                run_recur recur "$th" "$cell" "$H" "$L" "$B" "$T" "$pair"
                run_recur recur_recompute "$th" "$cell" "$H" "$L" "$B" "$T" "$pair" --recompute
                run_recur recur_bf16 "$th" "$cell" "$H" "$L" "$B" "$T" "$pair" --bf16
                run_recur recur_bf16_recompute "$th" "$cell" "$H" "$L" "$B" "$T" "$pair" --bf16 --recompute
                [ "$TORCH" = 1 ] && run_torch "$th" "$cell" "$H" "$L" "$B" "$T" "$pair"
            done
        done
    done
done

$PY - "$RAW" <<'EOF' | tee "$OUT/memory.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
mach = next(r for r in rows if r.get("kind") == "machine")
runs = [r for r in rows if "kind" not in r]
def key(r):
    return (r["cell"], r["hidden"], r["layers"], r["batch"], r["seq"], r["threads"])
def med(impl, k, field):
    v = [r[field] for r in runs if r.get("impl") == impl and key(r) == k and r.get(field) is not None]
    return statistics.median(v) if v else None
print(f"Machine: {mach['cpu']}, git {mach['git']}, {mach['date']}; medians of {mach['pairs']} interleaved rounds of {mach['seconds']} s.")
print()
print("| model | threads | PyTorch RSS MiB | recur keep | recompute | bf16 | bf16 + recompute | recompute / PyTorch | bf16 + recompute / PyTorch | target | recompute speed (fp32, bf16) vs keeping |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
keys = sorted({key(r) for r in runs if r.get("impl") == "recur"}, key=lambda k: (k[1], k[0], k[5]))
for k in keys:
    t = med("pytorch", k, "peak_rss_mib")
    m = {i: med(i, k, "peak_rss_mib") for i in ("recur", "recur_recompute", "recur_bf16", "recur_bf16_recompute")}
    s = {i: med(i, k, "train_chars_per_s") for i in ("recur", "recur_recompute", "recur_bf16", "recur_bf16_recompute")}
    f = lambda x: "-" if x is None else f"{x:.1f}"
    def pct(x):
        if x is None or not t: return "-"
        return f"{100 * x / t:.1f} % {'✓' if x <= 0.25 * t else '✗'}"
    def ratio(a, b):
        return "-" if not a or not b else f"{a / b:.2f}x"
    name = f"{k[0]} H{k[1]} L{k[2]} B{k[3]} T{k[4]}"
    print(f"| {name} | {k[5]} | {f(t)} | {f(m['recur'])} | {f(m['recur_recompute'])} | {f(m['recur_bf16'])} | "
          f"{f(m['recur_bf16_recompute'])} | {pct(m['recur_recompute'])} | {pct(m['recur_bf16_recompute'])} | <= 25 % | "
          f"{ratio(s['recur_recompute'], s['recur'])}, {ratio(s['recur_bf16_recompute'], s['recur_bf16'])} |")
EOF
echo "raw results: $RAW" >&2
