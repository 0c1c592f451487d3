#!/bin/bash
# bench/run.sh - recur against PyTorch and oneDNN on the same machine,
# interleaved, and docs/benchmarks.md from the results (bench/report.py).
#
# For each thread count, cell and shape it runs `recur bench`, `recur bench
# --bf16` (bf16 mixed-precision training, where the CPU has AVX512-BF16),
# bench/torch_charlm.py and bench/dnnl_charlm alternately (A B C D A B C D ..,
# PAIRS rounds), so that all see the same machine load; then the sgemm / FMA
# ceilings (bench/sgemm_peak) and the sampling ceiling (bench/stream_peak:
# read bandwidth at each model's weight bytes per sampled character, fp32 and
# bf16).
# PyTorch runs at its best setting on these machines: OPENBLAS_NUM_THREADS=1
# (OpenMP and OpenBLAS otherwise both start threads and oversubscribe) and
# OPENBLAS_CORETYPE=SkylakeX (Debian's OpenBLAS 0.3.21 does not recognise
# newer CPUs and falls back to slow kernels); with 2 threads also once with
# OMP_WAIT_POLICY=PASSIVE, and the faster of the two counts. recur needs none
# of these.
# oneDNN (bench/dnnl_charlm.c: the same model and step on oneDNN's RNN
# primitives, lbr_gru for the GRU; Intel's engine, what official PyTorch
# builds use for RNNs on CPUs) is compiled when libdnnl-dev is installed
# (Debian 12: oneDNN 2.6.3, `apt-get install libdnnl-dev`); it runs on
# OpenMP with OMP_NUM_THREADS=N, and with 2 threads also once with
# OMP_WAIT_POLICY=PASSIVE, the faster counting, as PyTorch. Its JSON says
# which implementation oneDNN picked for each primitive (onednn_impl*, as
# ONEDNN_VERBOSE=1 prints them) and the ISA it dispatched to (onednn_isa);
# ONEDNN_MAX_CPU_ISA in the environment caps that ISA. bench/loss_check.sh
# checks that the three train the same model (loss after N steps).
# With BF16=1 oneDNN also trains in bf16 (dnnl_charlm --bf16: its bf16 RNN
# and inner product, f32 master weights and Adam; impl "onednn_bf16") right
# after its fp32 runs in each round, with 2 threads under
# OMP_WAIT_POLICY=PASSIVE only; where oneDNN refuses bf16 on the CPU
# (dnnl_charlm exits 3) those runs are skipped without a word.
#
# Settings (environment):
#   PAIRS=3  SECONDS_PER_RUN=5  THREADS="1 2"  CELLS="rnn lstm gru"
#   SHAPES="128,1,1,25 128,2,50,50 512,2,64,100 1024,1,128,100"   (H,L,B,T)
#   OUT=bench/results/<date>   BUILD=build   TORCH=1 (0: recur only)
#   DNNL=1 (0: no oneDNN runs)   BF16=1 (0: no `recur bench --bf16` nor oneDNN bf16 runs)
#   EXTRA_RUNS="older/runs.jsonl ..."  earlier results to include in the report
# Needs cmake and a C compiler; PyTorch runs need Debian's python3-torch,
# sgemm_peak needs libopenblas-dev, the oneDNN runs libdnnl-dev (bench only:
# recur never links a BLAS or oneDNN):
#   apt-get install build-essential cmake python3-torch libopenblas-dev libdnnl-dev
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS=${PAIRS:-3}
SECS=${SECONDS_PER_RUN:-5}
THREADS=${THREADS:-"1 2"}
CELLS=${CELLS:-"rnn lstm gru"}
SHAPES=${SHAPES:-"128,1,1,25 128,2,50,50 512,2,64,100 1024,1,128,100"}
BUILD=${BUILD:-build}
TORCH=${TORCH:-1}
DNNL=${DNNL:-1}
BF16=${BF16:-1}
OUT=${OUT:-bench/results/$(date -u +%Y%m%d-%H%M%S)}
PY=/usr/bin/python3
mkdir -p "$OUT"
RAW="$OUT/runs.jsonl"
: >"$RAW"

echo "building recur (Release) in $BUILD" >&2
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target recur_cli >/dev/null
RECUR="$BUILD/recur"

# The sampling ceiling: no dependency.
cc -O2 -mavx512f -pthread bench/stream_peak.c -o "$BUILD/stream_peak"

have_blas=0
if cc -O2 -mavx512f -pthread bench/sgemm_peak.c -o "$BUILD/sgemm_peak" -lopenblas 2>/dev/null; then
    have_blas=1
else
    echo "sgemm_peak not built (apt-get install libopenblas-dev); no ceilings" >&2
fi
# The oneDNN peer: only where libdnnl-dev is installed.
have_dnnl=0
if [ "$DNNL" = 1 ]; then
    if cc -O3 -march=native -fopenmp bench/dnnl_charlm.c -o "$BUILD/dnnl_charlm" -ldnnl -lm 2>/dev/null; then
        have_dnnl=1
    else
        echo "dnnl_charlm not built (apt-get install libdnnl-dev); no oneDNN runs" >&2
    fi
fi
if [ "$TORCH" = 1 ] && ! $PY -c 'import torch' 2>/dev/null; then
    echo "no PyTorch for $PY; recur only" >&2
    TORCH=0
fi

# The machine, for the report.
{
    echo "{\"kind\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
    echo "\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')\","
    echo "\"cores\":$(nproc),\"flags_avx512\":$(grep -c avx512f /proc/cpuinfo | head -1),"
    echo "\"kernel\":\"$(uname -r)\",\"cc\":\"$(cc --version | head -1)\","
    echo "\"torch\":\"$($PY -c 'import torch; print(torch.__version__)' 2>/dev/null || echo none)\","
    echo "\"onednn\":\"$([ $have_dnnl = 1 ] && "$BUILD/dnnl_charlm" --version || echo none)\","
    echo "\"recur\":\"$($RECUR --version)\",\"git\":\"$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo +dirty)\","
    echo "\"pairs\":$PAIRS,\"seconds\":$SECS,\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
} | tr -d '\n' >>"$RAW"
echo >>"$RAW"

run_recur() { # th cell H L B T pair
    local j
    j=$("$RECUR" bench --cell "$2" --hidden "$3" --layers "$4" --batch "$5" --seq "$6" \
        --threads "$1" --seconds "$SECS" --sample-bf16 --sample-int8 --json) || { echo "recur bench failed: $*" >&2; return 0; }
    echo "{\"impl\":\"recur\",\"pair\":$7,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",${j#\{}" >>"$RAW"
}
run_recur_bf16() { # th cell H L B T pair: training with --bf16 (its sampling is fp32's, timed briefly)
    local j
    j=$("$RECUR" bench --cell "$2" --hidden "$3" --layers "$4" --batch "$5" --seq "$6" \
        --threads "$1" --seconds "$SECS" --sample-seconds 0.2 --bf16 --json 2>/dev/null) || { echo "recur bench --bf16 failed: $*" >&2; return 0; }
    echo "{\"impl\":\"recur_bf16\",\"pair\":$7,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",${j#\{}" >>"$RAW"
}
run_torch() { # th cell H L B T pair [OMP_WAIT_POLICY]
    local j
    j=$(env OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX OMP_NUM_THREADS="$1" ${8:+OMP_WAIT_POLICY=$8} \
        $PY bench/torch_charlm.py --cell "$2" --hidden "$3" --layers "$4" --batch "$5" --seq "$6" \
        --threads "$1" --seconds "$SECS" --json) || { echo "torch run failed: $*" >&2; return 0; }
    echo "{\"pair\":$7,\"omp_wait_policy\":\"${8:-default}\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",${j#\{}" >>"$RAW"
}
run_dnnl() { # th cell H L B T pair [OMP_WAIT_POLICY]
    local j
    j=$(env OMP_NUM_THREADS="$1" ${8:+OMP_WAIT_POLICY=$8} \
        "$BUILD/dnnl_charlm" --cell "$2" --hidden "$3" --layers "$4" --batch "$5" --seq "$6" \
        --threads "$1" --seconds "$SECS" --json) || { echo "oneDNN run failed: $*" >&2; return 0; }
    echo "{\"pair\":$7,\"omp_wait_policy\":\"${8:-default}\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",${j#\{}" >>"$RAW"
}
run_dnnl_bf16() { # th cell H L B T pair [OMP_WAIT_POLICY]: bf16 training (its sampling is fp32's, timed briefly)
    local j rc=0
    j=$(env OMP_NUM_THREADS="$1" ${8:+OMP_WAIT_POLICY=$8} \
        "$BUILD/dnnl_charlm" --bf16 --cell "$2" --hidden "$3" --layers "$4" --batch "$5" --seq "$6" \
        --threads "$1" --seconds "$SECS" --sample-seconds 0.2 --json 2>/dev/null) || rc=$?
    [ "$rc" = 3 ] && return 0 # oneDNN refuses bf16 here: no oneDNN bf16 runs
    [ "$rc" = 0 ] || { echo "oneDNN bf16 run failed: $*" >&2; return 0; }
    # its JSON's impl is "onednn_bf16"
    echo "{\"pair\":$7,\"omp_wait_policy\":\"${8:-default}\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",${j#\{}" >>"$RAW"
}

for th in $THREADS; do
    if [ $have_blas = 1 ]; then
        echo "ceilings, $th thread(s)" >&2
        j=$(OPENBLAS_CORETYPE=SkylakeX "$BUILD/sgemm_peak" --threads "$th" --json)
        echo "{\"kind\":\"peak\",\"coretype\":\"SkylakeX\",${j#\{}" >>"$RAW"
    fi
    for shape in $SHAPES; do
        IFS=, read -r H L B T <<<"$shape"
        for cell in $CELLS; do
            echo "$cell H$H L$L B$B T$T, $th thread(s)" >&2
            for p in $(seq 1 "$PAIRS"); do
                run_recur "$th" "$cell" "$H" "$L" "$B" "$T" "$p"
                [ "$BF16" = 1 ] && run_recur_bf16 "$th" "$cell" "$H" "$L" "$B" "$T" "$p"
                if [ "$TORCH" = 1 ]; then
                    run_torch "$th" "$cell" "$H" "$L" "$B" "$T" "$p"
                    # With several threads libgomp's spinning collapses when another
                    # process holds a core; PyTorch's best is then OMP_WAIT_POLICY=PASSIVE.
                    # Both run; the report takes the faster in each pair.
                    [ "$th" -gt 1 ] && run_torch "$th" "$cell" "$H" "$L" "$B" "$T" "$p" PASSIVE
                fi
                if [ $have_dnnl = 1 ]; then
                    # oneDNN runs on libgomp too: both wait policies, the faster counts.
                    run_dnnl "$th" "$cell" "$H" "$L" "$B" "$T" "$p"
                    [ "$th" -gt 1 ] && run_dnnl "$th" "$cell" "$H" "$L" "$B" "$T" "$p" PASSIVE
                    # oneDNN's own bf16 training, one wait policy (PASSIVE with several threads).
                    if [ "$BF16" = 1 ]; then
                        if [ "$th" -gt 1 ]; then
                            run_dnnl_bf16 "$th" "$cell" "$H" "$L" "$B" "$T" "$p" PASSIVE
                        else
                            run_dnnl_bf16 "$th" "$cell" "$H" "$L" "$B" "$T" "$p"
                        fi
                    fi
                fi
            done
        done
    done
    # Read bandwidth at exactly the weight bytes each sampled model streams per
    # character (fp32 and bf16), on as many threads as its sampler used.
    $PY - "$RAW" "$th" <<'PY' | while read -r sth sizes; do
import json, sys
sizes = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("impl") == "recur" and r.get("threads") == int(sys.argv[2]) and "sample_bytes_per_char" in r:
        s = sizes.setdefault(r.get("sample_threads", 1), set())
        s.update(int(r[k]) for k in ("sample_bytes_per_char", "sample_bf16_bytes_per_char") if k in r)
for sth, s in sorted(sizes.items()):
    print(sth, ",".join(map(str, sorted(s))))
PY
        echo "sampling ceiling, $sth thread(s)" >&2
        j=$("$BUILD/stream_peak" --threads "$sth" --bytes "$sizes" --json)
        echo "{\"kind\":\"stream\",${j#\{}" >>"$RAW"
    done
done

$PY bench/report.py ${EXTRA_RUNS:-} "$RAW" >docs/benchmarks.md
echo "wrote docs/benchmarks.md from $RAW" >&2
