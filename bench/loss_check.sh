#!/bin/bash
# bench/loss_check.sh - do recur, PyTorch and oneDNN do the same work in the
# speed benchmark (bench/run.sh)? Trains each cell for STEPS steps with the
# benchmark's model and step (one-hot input, L layers of H units, B streams
# over the text, windows of T characters, the state carried between windows,
# Adam 2e-3, clip 5) and prints a table of the training loss after N steps:
#
#   recur     build/recur train TEXT --val <its first 5000 characters> --steps STEPS
#             (with --val the whole text is trained on, in the benchmark's
#             streams; train_loss of each step from --log)
#   PyTorch   bench/torch_charlm.py --loss-steps STEPS
#   oneDNN    build/dnnl_charlm --loss-steps STEPS --init-out INIT
#   PyTorch from oneDNN's init
#             bench/torch_charlm.py --loss-steps STEPS --init INIT: the same
#             initial weights as the oneDNN run, so its losses must equal
#             oneDNN's up to float rounding (the |diff| column: the largest
#             over all the steps).
#
# Each implementation draws its own initial weights (same distribution,
# uniform +-1/sqrt(H); recur's own scheme), so the first three columns agree
# in trend, not digit for digit; the same windows are seen in the same order.
#
# Settings (environment):
#   H=64 L=2 B=32 T=50 STEPS=100 CELLS="rnn lstm gru" THREADS=1
#   TEXT=data/tinyshakespeare.txt BUILD=build DNNL=1 TORCH=1
# Needs what bench/run.sh needs (cmake, a C compiler; python3-torch for the
# PyTorch columns, libdnnl-dev for oneDNN's).
set -euo pipefail
cd "$(dirname "$0")/.."

H=${H:-64}
L=${L:-2}
B=${B:-32}
T=${T:-50}
STEPS=${STEPS:-100}
CELLS=${CELLS:-"rnn lstm gru"}
THREADS=${THREADS:-1}
TEXT=${TEXT:-data/tinyshakespeare.txt}
BUILD=${BUILD:-build}
DNNL=${DNNL:-1}
TORCH=${TORCH:-1}
PY=/usr/bin/python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$BUILD/recur" ]; then
    echo "building recur (Release) in $BUILD" >&2
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" --target recur_cli >/dev/null
fi
if [ "$DNNL" = 1 ] && { [ ! -x "$BUILD/dnnl_charlm" ] || [ bench/dnnl_charlm.c -nt "$BUILD/dnnl_charlm" ]; }; then
    cc -O3 -march=native -fopenmp bench/dnnl_charlm.c -o "$BUILD/dnnl_charlm" -ldnnl -lm 2>/dev/null ||
        { echo "dnnl_charlm not built (apt-get install libdnnl-dev); no oneDNN columns" >&2; DNNL=0; }
fi
if [ "$TORCH" = 1 ] && ! $PY -c 'import torch' 2>/dev/null; then
    echo "no PyTorch for $PY; no PyTorch columns" >&2
    TORCH=0
fi

head -c 5000 "$TEXT" >"$tmp/val.txt"
for cell in $CELLS; do
    echo "$cell H$H L$L B$B T$T: $STEPS steps" >&2
    "$BUILD/recur" train "$TEXT" --val "$tmp/val.txt" --cell "$cell" --hidden "$H" --layers "$L" \
        --batch "$B" --seq "$T" --steps "$STEPS" --eval-every "$STEPS" --sample-every 0 --threads "$THREADS" \
        --seed 1 --quiet --log "$tmp/recur_$cell.jsonl" --out "$tmp/recur_$cell.safetensors" >/dev/null
    if [ "$TORCH" = 1 ]; then
        OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS="$THREADS" $PY bench/torch_charlm.py --cell "$cell" --hidden "$H" \
            --layers "$L" --batch "$B" --seq "$T" --threads "$THREADS" --text "$TEXT" --loss-steps "$STEPS" \
            >"$tmp/torch_$cell.jsonl"
    fi
    if [ "$DNNL" = 1 ]; then
        OMP_NUM_THREADS="$THREADS" "$BUILD/dnnl_charlm" --cell "$cell" --hidden "$H" --layers "$L" --batch "$B" \
            --seq "$T" --threads "$THREADS" --text "$TEXT" --loss-steps "$STEPS" --init-out "$tmp/init_$cell.st" \
            >"$tmp/dnnl_$cell.jsonl"
        if [ "$TORCH" = 1 ]; then
            OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS="$THREADS" $PY bench/torch_charlm.py --cell "$cell" \
                --hidden "$H" --layers "$L" --batch "$B" --seq "$T" --threads "$THREADS" --text "$TEXT" \
                --loss-steps "$STEPS" --init "$tmp/init_$cell.st" >"$tmp/torchinit_$cell.jsonl"
        fi
    fi
done

$PY - "$tmp" "$STEPS" "$TEXT" "$H" "$L" "$B" "$T" $CELLS <<'PY'
import json, os, sys
tmp, steps, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
H, L, B, T = sys.argv[4:8]
cells = sys.argv[8:]

def curve(name):
    p = os.path.join(tmp, name)
    if not os.path.exists(p):
        return None
    return {r["step"]: r["train_loss"] for r in map(json.loads, open(p)) if r.get("train_loss") is not None}

marks = sorted({s for s in (1, 10, 25, 50, 100, 200, 500, 1000) if s <= steps} | {steps})
print(f"Training loss (nats/char) after N steps, H{H} L{L} B{B} T{T}, B streams over {text};")
nl = min(10, steps)
print(f"\"last {nl}\" is the mean of the last {nl} steps' losses. |diff|: the largest difference between")
print("oneDNN and PyTorch started from oneDNN's initial weights, over every step.")
print()
print("| cell | step | recur | PyTorch | oneDNN | PyTorch from oneDNN's init | |diff| |")
print("|---|---|---|---|---|---|---|")
for cell in cells:
    c = {k: curve(f"{k}_{cell}.jsonl") for k in ("recur", "torch", "dnnl", "torchinit")}
    diff = None
    if c["dnnl"] and c["torchinit"]:
        diff = max(abs(c["dnnl"][s] - c["torchinit"][s]) for s in c["dnnl"] if s in c["torchinit"])
    f = lambda x: "-" if x is None else f"{x:.4f}"
    for s in marks:
        row = [f((c[k] or {}).get(s)) for k in ("recur", "torch", "dnnl", "torchinit")]
        print(f"| {cell} | {s} | " + " | ".join(row) + " | |")
    last = []
    for k in ("recur", "torch", "dnnl", "torchinit"):
        v = [c[k][s] for s in range(steps - nl + 1, steps + 1) if c[k] and s in c[k]]
        last.append(f(sum(v) / len(v)) if v else "-")
    print(f"| {cell} | last {nl} | " + " | ".join(last) + f" | {'-' if diff is None else '%.1e' % diff} |")
PY
