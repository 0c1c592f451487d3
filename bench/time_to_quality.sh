#!/usr/bin/env bash
# Time to quality: how long recur and PyTorch take, with the same recipe, to
# reach a validation loss (issue: LSTM 512x2, dropout 0.2, 1.55 nats/char on
# the last 10 % of tinyshakespeare). The default batch is 8 streams of 50
# characters, the recipe with which recur got furthest ahead (docs/benchmarks.md:
# bench/results/ttq-lstm512-b8; BATCH=32 is the earlier run, ttq-lstm512).
# Both validate every EVAL steps over the whole held-out text, and the wall
# time at the first validation at or below TARGET is what counts (validation
# time included, in both).
#
# By default the two run at the same time, each pinned to one core with one
# thread (taskset), so that whatever else loads this shared machine loads both;
# CONCURRENT=0 runs them one after the other with THREADS threads each.
# Each process's CPU time is sampled every 2 s from /proc (cpu_samples.txt:
# epoch seconds, name, CPU seconds, seconds since the process started), so
# the summary also gives the CPU seconds each needed: on a machine others
# share, that is the fairer measure of the two.
#
#   bench/time_to_quality.sh                    # writes bench/results/ttq-<date>/
#   CELL=lstm HIDDEN=512 LAYERS=2 DROPOUT=0.2 BATCH=8 SEQ=50 TARGET=1.55 \
#   MAX_SECONDS=3600 EVAL=250 CONCURRENT=1 THREADS=1 SEED=1 bench/time_to_quality.sh
# SEED seeds both trainers (recur's weights and dropout; PyTorch's own generator:
# the same seed does not give the same initial weights in the two).
set -euo pipefail
cd "$(dirname "$0")/.."

CELL=${CELL:-lstm} HIDDEN=${HIDDEN:-512} LAYERS=${LAYERS:-2} DROPOUT=${DROPOUT:-0.2}
BATCH=${BATCH:-8} SEQ=${SEQ:-50} TARGET=${TARGET:-1.55} MAX_SECONDS=${MAX_SECONDS:-3600}
EVAL=${EVAL:-250} CONCURRENT=${CONCURRENT:-1} THREADS=${THREADS:-1} SEED=${SEED:-1}
BUILD=${BUILD:-build} PY=${PY:-/usr/bin/python3} TEXT=${TEXT:-data/tinyshakespeare.txt}
OUT=${OUT:-bench/results/ttq-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j2 --target recur_cli >/dev/null
RECUR=$BUILD/recur

recipe=(--cell "$CELL" --hidden "$HIDDEN" --layers "$LAYERS" --dropout "$DROPOUT" --batch "$BATCH" --seq "$SEQ" --seed "$SEED")
pin0=() pin1=()
if [ "$CONCURRENT" = 1 ]; then pin0=(taskset -c 0); pin1=(taskset -c 1); THREADS=1; fi

# recur: the log's JSON lines carry val_loss and elapsed_s; stopped with
# SIGINT (it saves and exits) at the first validation at or below TARGET.
run_recur() {
    local log=$OUT/recur.jsonl
    : >"$log"
    "${pin0[@]}" "$RECUR" train "$TEXT" "${recipe[@]}" --val-frac 0.1 --eval-every "$EVAL" \
        --epochs 1000 --threads "$THREADS" --sample-every 0 --quiet --log "$log" \
        --out "$OUT/recur.safetensors" &
    local pid=$! start=$SECONDS
    sample_cpu recur "$pid" &
    while kill -0 "$pid" 2>/dev/null; do
        sleep 2
        if $PY - "$log" "$TARGET" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("val_loss") is not None and r["val_loss"] <= float(sys.argv[2]):
        sys.exit(0)
sys.exit(1)
EOF
        then kill -INT "$pid"; break; fi
        if [ $((SECONDS - start)) -gt "${MAX_SECONDS%.*}" ]; then kill -INT "$pid"; break; fi
    done
    wait "$pid" || true
}
run_torch() {
    OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS=$THREADS "${pin1[@]}" \
        $PY bench/torch_train.py "$TEXT" "${recipe[@]}" --val-frac 0.1 --eval-every "$EVAL" \
        --threads "$THREADS" --target "$TARGET" --max-seconds "$MAX_SECONDS" >"$OUT/torch.jsonl" &
    local pid=$!
    sample_cpu torch "$pid" &
    wait "$pid"
}
# name pid: CPU seconds (utime + stime) and age of the process, every 2 s.
sample_cpu() {
    local hz start now
    hz=$(getconf CLK_TCK)
    while [ -r "/proc/$2/stat" ]; do
        now=$(cut -d' ' -f1 /proc/uptime)
        awk -v n="$1" -v hz="$hz" -v now="$now" -v t="$(date +%s.%N)" \
            '{print t, n, ($14 + $15) / hz, now - $22 / hz}' "/proc/$2/stat" 2>/dev/null || break
        sleep 2
    done >>"$OUT/cpu_samples.txt"
}

{
    echo "{\"kind\":\"setup\",\"date\":\"$(date -u +%FT%TZ)\",\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)\",\"recipe\":\"${recipe[*]}\",\"target\":$TARGET,\"eval_every\":$EVAL,\"concurrent\":$CONCURRENT,\"threads\":$THREADS,\"git\":\"$(git describe --always --dirty)\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} >"$OUT/setup.json"

if [ "$CONCURRENT" = 1 ]; then
    run_recur & rp=$!
    run_torch & tp=$!
    wait "$rp" "$tp"
else
    run_recur
    run_torch
fi

# The summary goes to the terminal and to $OUT/summary.txt; the trained
# checkpoints are left in $OUT but not meant for the repository (.gitignore).
$PY - "$OUT" "$TARGET" <<'EOF' | tee "$OUT/summary.txt"
import json, sys
out, target = sys.argv[1], float(sys.argv[2])
def first(path):
    last = None
    for line in open(path):
        r = json.loads(line)
        if r.get("val_loss") is None:
            continue
        last = r
        if r["val_loss"] <= target:
            return r, True
    return last, False
def cpu_at(impl, age):
    """CPU seconds of impl when it was age seconds old (linear between samples)."""
    pts = []
    try:
        for line in open("%s/cpu_samples.txt" % out):
            _, name, cpu, a = line.split()
            if name == impl:
                pts.append((float(a), float(cpu)))
    except FileNotFoundError:
        return None
    for (a0, c0), (a1, c1) in zip(pts, pts[1:]):
        if a0 <= age <= a1:
            return c0 + (c1 - c0) * (age - a0) / (a1 - a0) if a1 > a0 else c0
    return None  # not bracketed by two samples
res = {}
for impl in ("recur", "torch"):
    r, ok = first("%s/%s.jsonl" % (out, impl))
    res[impl] = (r, ok)
    if r is None:
        print("%-7s no validation logged" % impl)
    else:
        c = cpu_at(impl, r["elapsed_s"])
        r["cpu_s"] = c
        print("%-7s %s %.4f at step %d after %.0f s (%s CPU s)" % (impl, "reached" if ok else "NOT reached; last", r["val_loss"], r["step"], r["elapsed_s"], "%.0f" % c if c is not None else "?"))
(r1, ok1), (r2, ok2) = res["recur"], res["torch"]
if r1 and r2 and ok1:
    if ok2:
        print("recur / PyTorch wall time to %.2f: %.3f (PyTorch %.2fx longer)" % (target, r1["elapsed_s"] / r2["elapsed_s"], r2["elapsed_s"] / r1["elapsed_s"]))
        if r1.get("cpu_s") and r2.get("cpu_s"):
            print("recur / PyTorch CPU time to %.2f: %.3f (PyTorch %.2fx more)" % (target, r1["cpu_s"] / r2["cpu_s"], r2["cpu_s"] / r1["cpu_s"]))
    else:
        print("PyTorch did not reach %.2f in %.0f s: at least %.2fx recur's time" % (target, r2["elapsed_s"], r2["elapsed_s"] / r1["elapsed_s"]))
EOF
