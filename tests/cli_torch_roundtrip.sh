#!/usr/bin/env bash
# cli_torch_roundtrip.sh RECUR SRCDIR - recur and PyTorch agree on checkpoints.
#
#  (a) for every cell (with one-hot and embedding input, and the relu rnn):
#      tools/from_torch.py --random writes a PyTorch-initialised model, and
#      `recur eval --json` must give the same nats/char as tools/to_torch.py
#      (PyTorch, float64) within 1e-5 relative;
#  (b) a model trained by `recur train` gives the same loss in PyTorch;
#  (c) `recur sample` runs on a from_torch checkpoint;
#  (d) to_torch.py --save then from_torch.py --state gives back the same bytes;
#  (e) a bidirectional classifier trained by `recur classify train` on a tiny
#      generated TSV loads strictly in PyTorch (tools/to_torch.py) and gives
#      the same label probabilities as `recur classify predict` (to the 4
#      decimals it prints: within 5e-5 + 1e-5), unseen characters included;
#  (f) PyTorch-initialised application models (from_torch.py --random: a
#      bidirectional classifier, a bidirectional tagger, a class-conditioned
#      LM) load in recur (the classifier agreeing with PyTorch as in (e), the
#      tagger tagging, the conditioned LM sampling by class), and go through
#      to_torch.py --save | from_torch.py --state byte for byte;
#      to_torch.py --text refuses a model that is not a language model.
#
# Needs Debian's python3 with torch; exits 77 (skip) without it.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY=/usr/bin/python3
TOOLS=$src/tools
TOL=1e-5

if ! "$PY" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP: python3-torch not installed"
    exit 77
fi

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
    r=$("$recur" eval "$ckpt" "$TEXT" --json | nats)
    t=$("$PY" "$TOOLS/to_torch.py" "$ckpt" --text "$TEXT" | nats)
    compare "eval $name ($args)" "$r" "$t"
done

# (b) A model trained by recur, evaluated by both.
"$recur" train "$TEXT" --cell lstm --hidden 16 --layers 2 --steps 30 --seq 16 --batch 4 \
    --out "$tmp/M.safetensors" --quiet
r=$("$recur" eval "$tmp/M.safetensors" "$TEXT" --json | nats)
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
out=$("$recur" sample "$tmp/gru-embed.safetensors" --length 60 --seed 3 --prime "é")
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

# (e) A bidirectional classifier trained by recur, in PyTorch.
"$PY" - "$tmp/classes.tsv" <<'EOF'
import random, sys
rng = random.Random(11)
alphabets = {"alpha": "abcde", "beta": "klmno", "gamma": "xyzéж"}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i in range(150):
        label = ["alpha", "beta", "gamma"][i % 3]
        a = alphabets[label] + "aky"  # shared characters, so it is not trivial
        f.write("%s\t%s\n" % (label, "".join(rng.choice(a) for _ in range(rng.randint(1, 9)))))
EOF
"$recur" classify train "$tmp/classes.tsv" --cell lstm --hidden 12 --layers 2 --embed 6 \
    --steps 150 --batch 8 --threads 1 --out "$tmp/cls.safetensors" --quiet >/dev/null

# compare_classify LABEL CKPT NLABELS TEXT...: recur classify predict's
# probabilities (4 decimals) against to_torch.py --classify's (float64).
compare_classify() {
    local label=$1 ckpt=$2 k=$3
    shift 3
    local r t
    if ! r=$("$recur" classify predict "$ckpt" "$@" --top-k "$k"); then
        echo "FAIL $label: recur classify predict failed"
        fails=$((fails + 1))
        return
    fi
    if ! t=$("$PY" "$TOOLS/to_torch.py" "$ckpt" --classify "$@"); then
        echo "FAIL $label: to_torch.py --classify failed"
        fails=$((fails + 1))
        return
    fi
    if "$PY" - "$r" "$t" "$TOL" <<'EOF'
import json, sys
recur = sys.argv[1].splitlines()
torch = [json.loads(line) for line in sys.argv[2].splitlines()]
tol = 0.5e-4 + float(sys.argv[3])  # the printed rounding, plus the tolerance
worst, bad = 0.0, 0
assert len(recur) == len(torch), (recur, torch)
for line, t in zip(recur, torch):
    f = line.split(" ")
    got = dict(zip(f[0::2], map(float, f[1::2])))
    assert set(got) == set(t["probs"]), (got, t)
    for lab, p in t["probs"].items():
        d = abs(got[lab] - p)
        worst = max(worst, d)
        if d > tol:
            bad += 1
            print("  %r %s: recur %.4f, torch %.8f" % (t["text"], lab, got[lab], p))
print("  %d texts x %d labels, max |recur - torch| = %.2g (printed to 4 decimals)"
      % (len(torch), len(got), worst))
sys.exit(1 if bad else 0)
EOF
    then
        echo "ok   $label: recur classify predict = to_torch.py --classify"
    else
        echo "FAIL $label: recur classify predict and to_torch.py --classify differ"
        fails=$((fails + 1))
    fi
}

desc=$("$PY" "$TOOLS/to_torch.py" "$tmp/cls.safetensors")
case $desc in
    *"bidirectional lstm"*"task classify (3 classes)"*"loaded strictly") echo "ok   $desc" ;;
    *) echo "FAIL to_torch.py on a recur classifier: $desc"; fails=$((fails + 1)) ;;
esac
# Texts of each class, mixed ones, one character, and characters never seen
# in training (read as U+FFFD by both).
texts=(abcab klmno xzéжy a ж aklxzé "q?" "ab kl" bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb)
compare_classify "recur-trained bidirectional lstm classifier" "$tmp/cls.safetensors" 3 "${texts[@]}"
if "$PY" "$TOOLS/to_torch.py" "$tmp/cls.safetensors" --text "$TEXT" >/dev/null 2>"$tmp/err"; then
    echo "FAIL to_torch.py --text accepted a classifier"
    fails=$((fails + 1))
elif grep -q "evaluates language models" "$tmp/err"; then
    echo "ok   to_torch.py --text refuses a classifier: $(cat "$tmp/err")"
else
    echo "FAIL to_torch.py --text on a classifier: $(cat "$tmp/err")"
    fails=$((fails + 1))
fi

# (f) PyTorch-initialised application models, in recur and back.
# roundtrip NAME FROM_TORCH_STATE_ARGS...: to_torch.py --save | from_torch.py --state
roundtrip() {
    local name=$1
    shift
    "$PY" "$TOOLS/to_torch.py" "$tmp/$name.safetensors" --save "$tmp/$name.pt"
    "$PY" "$TOOLS/from_torch.py" --state "$tmp/$name.pt" --vocab-text "$TEXT" "$@" \
        --out "$tmp/$name.back.safetensors"
    if cmp -s "$tmp/$name.safetensors" "$tmp/$name.back.safetensors"; then
        echo "ok   $name: to_torch.py --save | from_torch.py --state gives identical bytes"
    else
        echo "FAIL $name: to_torch.py --save | from_torch.py --state changed the checkpoint"
        fails=$((fails + 1))
    fi
}
labels='["en","fr","ru","ja"]'
"$PY" "$TOOLS/from_torch.py" --random --cell gru --hidden 10 --layers 2 --embed 5 --bidirectional \
    --task classify --labels "$labels" --vocab-text "$TEXT" --seed 21 --out "$tmp/pt-cls.safetensors"
compare_classify "PyTorch-initialised bidirectional gru classifier" "$tmp/pt-cls.safetensors" 4 \
    "the quick" "жук 🙂" "x=y+1;" "\\"
roundtrip pt-cls --task classify --labels "$labels"

tags='["DET","NOUN","X"]'
"$PY" "$TOOLS/from_torch.py" --random --cell lstm --hidden 8 --layers 2 --bidirectional \
    --task tag --labels "$tags" --vocab-text "$TEXT" --seed 22 --out "$tmp/pt-tag.safetensors"
out=$(echo "the lazy café" | "$recur" tag predict "$tmp/pt-tag.safetensors")
if [ "$(echo "$out" | wc -w)" -eq 3 ]; then
    echo "ok   recur tag predict on a from_torch tagger: $out"
else
    echo "FAIL recur tag predict on a from_torch tagger gave: $out"
    fails=$((fails + 1))
fi
roundtrip pt-tag --task tag --labels "$tags"

classes='["a","b"]'
"$PY" "$TOOLS/from_torch.py" --random --cell gru --hidden 8 --task condlm --labels "$classes" \
    --vocab-text "$TEXT" --seed 23 --out "$tmp/pt-cond.safetensors"
out=$("$recur" sample "$tmp/pt-cond.safetensors" --class b --length 30 --seed 4)
if [ -n "$out" ]; then
    echo "ok   recur sample --class on a from_torch conditioned model"
else
    echo "FAIL recur sample --class on a from_torch conditioned model gave nothing"
    fails=$((fails + 1))
fi
roundtrip pt-cond --task condlm --labels "$classes"

if [ "$fails" -ne 0 ]; then
    echo "$fails comparison(s) failed"
    exit 1
fi
echo "all torch round trips agree"
