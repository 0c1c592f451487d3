#!/usr/bin/env bash
# cli_torch_roundtrip.sh RECUR SRCDIR - recur and PyTorch agree on checkpoints.
#
#  (a) for every cell (with one-hot and embedding input, and the relu rnn):
#      tools/from_torch.py --random writes a PyTorch-initialised model, and
#      `recur eval --json` must give the same nats/char as tools/to_torch.py
#      (PyTorch, float64) within 1e-5 relative;
#  (b) a model trained by `recur train` gives the same loss in PyTorch;
#  (c) `recur sample` runs on a from_torch checkpoint;
#  (d) to_torch.py --save then from_torch.py --state gives back the same bytes.
#
# Needs Debian's python3 with torch; exits 77 (skip) without it.
set -euo pipefail

RECUR=${1:?usage: cli_torch_roundtrip.sh RECUR SRCDIR}
SRC=${2:?usage: cli_torch_roundtrip.sh RECUR SRCDIR}
PY=/usr/bin/python3
TOOLS=$SRC/tools
TOL=1e-5

if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP: python3-torch not installed"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# A few KB of mixed text, with 2-, 3- and 4-byte UTF-8 characters.
"$PY" - "$tmp/text.txt" <<'EOF'
import random, sys
rng = random.Random(7)
words = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "café", "crème",
         "naïve", "жук", "—", "🙂", "RNN", "LSTM", "GRU", "42", "x=y+1;"]
out = []
while sum(len(w) + 1 for w in out) < 4000:
    out.append(rng.choice(words))
    if rng.random() < 0.1:
        out.append("\n")
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(" ".join(out) + "\n")
EOF
TEXT=$tmp/text.txt
echo "text: $(wc -c <"$TEXT") bytes, $("$PY" -c 'import sys; print(len(set(open(sys.argv[1], encoding="utf-8").read())))' "$TEXT") distinct characters"

# nats_per_char from a JSON line on stdin.
nats() { "$PY" -c 'import json, sys; print(repr(json.loads(sys.stdin.read())["nats_per_char"]))'; }

fails=0
# compare LABEL RECUR_VALUE TORCH_VALUE: |a-b| <= TOL*|b|
compare() {
    if "$PY" - "$2" "$3" "$TOL" <<'EOF'
import sys
a, b, tol = map(float, sys.argv[1:4])
sys.exit(0 if abs(a - b) <= tol * abs(b) else 1)
EOF
    then
        echo "ok   $1: recur $2, torch $3"
    else
        echo "FAIL $1: recur $2, torch $3 (more than $TOL relative apart)"
        fails=$((fails + 1))
    fi
}

# (a) PyTorch-initialised models, evaluated by both.
# name    from_torch.py arguments
cases=(
    "rnn        --cell rnn --hidden 24 --layers 2"
    "rnn-relu   --cell rnn --nonlinearity relu --hidden 16 --layers 1 --embed 8"
    "lstm       --cell lstm --hidden 20 --layers 2"
    "lstm-embed --cell lstm --hidden 16 --layers 3 --embed 8"
    "gru        --cell gru --hidden 32 --layers 2"
    "gru-embed  --cell gru --hidden 16 --layers 1 --embed 5"
)
seed=1
for c in "${cases[@]}"; do
    read -r name args <<<"$c"
    ckpt=$tmp/$name.safetensors
    # shellcheck disable=SC2086  # args is a list of flags
    "$PY" "$TOOLS/from_torch.py" --random $args --vocab-text "$TEXT" --seed $seed --out "$ckpt"
    seed=$((seed + 1))
    r=$("$RECUR" eval "$ckpt" "$TEXT" --json | nats)
    t=$("$PY" "$TOOLS/to_torch.py" "$ckpt" --text "$TEXT" | nats)
    compare "eval $name ($args)" "$r" "$t"
done

# (b) A model trained by recur, evaluated by both.
"$RECUR" train "$TEXT" --cell lstm --hidden 16 --layers 2 --steps 30 --seq 16 --batch 4 \
    --out "$tmp/M.safetensors" --quiet
r=$("$RECUR" eval "$tmp/M.safetensors" "$TEXT" --json | nats)
t=$("$PY" "$TOOLS/to_torch.py" "$tmp/M.safetensors" --text "$TEXT" | nats)
compare "eval of a recur-trained lstm" "$r" "$t"
# The resumable state (with optim./train. tensors) loads into PyTorch too.
last=$(ls "$tmp"/M*.safetensors | grep -v '/M.safetensors$' | head -n 1 || true)
if [ -n "$last" ]; then
    if "$PY" "$TOOLS/to_torch.py" "$last" >/dev/null; then
        echo "ok   to_torch.py loads the resumable state $(basename "$last")"
    else
        echo "FAIL to_torch.py cannot load the resumable state $(basename "$last")"
        fails=$((fails + 1))
    fi
fi

# (c) Sampling from a PyTorch-made checkpoint.
out=$("$RECUR" sample "$tmp/gru-embed.safetensors" --length 60 --seed 3 --prime "é")
n=$(printf '%s' "$out" | "$PY" -c 'import sys; print(len(sys.stdin.buffer.read().decode("utf-8")))')
if [ "$n" -ge 61 ]; then
    echo "ok   recur sample on a from_torch checkpoint: $n characters"
else
    echo "FAIL recur sample on a from_torch checkpoint gave $n characters: $out"
    fails=$((fails + 1))
fi

# (d) recur -> torch.save -> recur: the same bytes.
"$PY" "$TOOLS/to_torch.py" "$tmp/lstm-embed.safetensors" --save "$tmp/lstm-embed.pt"
"$PY" "$TOOLS/from_torch.py" --state "$tmp/lstm-embed.pt" --vocab-text "$TEXT" --out "$tmp/back.safetensors"
if cmp -s "$tmp/lstm-embed.safetensors" "$tmp/back.safetensors"; then
    echo "ok   to_torch.py --save | from_torch.py --state gives identical bytes"
else
    echo "FAIL to_torch.py --save | from_torch.py --state changed the checkpoint"
    fails=$((fails + 1))
fi

if [ "$fails" -ne 0 ]; then
    echo "$fails comparison(s) failed"
    exit 1
fi
echo "all torch round trips agree"
