#!/usr/bin/env bash
# app_parity.sh - issue #14's application target: `recur classify train` and
# `recur tag train` with their default options against the same model and
# recipe in PyTorch (bench/torch_apps.py), several seeds each, as a markdown
# table of accuracies.
#
#   names       recur classify train data/names                  (surname -> language, 18 classes)
#   ewt-words   recur classify train ewt-words.tsv               (word form -> its commonest UPOS, 17
#               classes; built from data/ud_english_ewt by bench/make_ewt_words.py)
#   ewt-tag     recur tag train train.tsv --dev dev.tsv --test test.tsv   (UD EWT, UPOS)
#
# recur runs with its defaults; only --seed, --threads, --out, --json (and for
# tagging --dev/--test, and --epochs when TAG_EPOCHS is set) are given. The
# PyTorch script gets every default that `recur ... train --help` prints, so
# the two follow recur's defaults as they change. Both sides see the same
# data, the same split (recur's, which torch_apps.py reimplements; checked
# here against recur's own with bench/app_split_dump.c when a C compiler and
# build/librecur_internal.a are there), the same initial weights (recur's
# generator, reimplemented) and the same batches in the same order; what
# differs is the arithmetic (and dropout masks, if a default ever turns
# dropout on). TORCH_ARGS="--init torch --order torch" gives PyTorch its own
# initialisation and shuffling instead (the same recipe, other random draws).
#
# usage: bench/app_parity.sh [RECUR]       (default build/recur)
# environment:
#   SEEDS="1 2 3"       seeds (each seed is also recur's split seed)
#   THREADS=N           threads for both engines (default: the CPUs, at most 8,
#                       which is recur's own default)
#   TAG_EPOCHS=X        tagging epochs for both sides (default: recur's default)
#   CLASSIFY_EPOCHS=X   classification epochs for both sides (default: recur's)
#   DATASETS="names ewt-words ewt-tag"   which to run
#   OUT=DIR             logs, models, results (default /tmp/app_parity)
#   NAMES=DIR|FILE  WORDS=FILE  EWT=DIR    other data (smoke tests use small files)
#   PY=/usr/bin/python3   NICE="nice -n 19" (a prefix for every run)
#   TORCH_ARGS="..."    more flags for bench/torch_apps.py
#   TORCH_ENV="..."     the environment of the PyTorch runs (default below:
#                       glibc's malloc told to keep freed memory; without it
#                       Debian's PyTorch 1.13 spends most of an LSTM tagger's
#                       backward in page faults, about 10x slower on this
#                       machine, since autograd sums each weight's gradient
#                       over the time steps into freshly allocated tensors).
#                       PyTorch's speed here is its BLAS's: Debian's python3-torch
#                       uses the system libblas.so.3, the reference (netlib) BLAS
#                       unless libopenblas0 is installed (apt-get install
#                       libopenblas-dev, as docs/benchmarks.md's setup); with the
#                       reference BLAS the PyTorch tagger is ~25x slower than recur.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RECUR=${1:-${RECUR:-$ROOT/build/recur}}
PY=${PY:-/usr/bin/python3}
SEEDS=${SEEDS:-"1 2 3"}
cpus=$(nproc 2>/dev/null || echo 1)
THREADS=${THREADS:-$((cpus > 8 ? 8 : cpus))}
TAG_EPOCHS=${TAG_EPOCHS:-}
CLASSIFY_EPOCHS=${CLASSIFY_EPOCHS:-}
DATASETS=${DATASETS:-"names ewt-words ewt-tag"}
OUT=${OUT:-/tmp/app_parity}
NAMES=${NAMES:-$ROOT/data/names}
EWT=${EWT:-$ROOT/data/ud_english_ewt}
NICE=${NICE:-}
TORCH="$PY $ROOT/bench/torch_apps.py"
# (OPENBLAS_*: as bench/run.sh, when OpenBLAS is PyTorch's BLAS; no effect otherwise)
coretype=""
grep -q avx512f /proc/cpuinfo 2> /dev/null && coretype="OPENBLAS_CORETYPE=SkylakeX"
TORCH_ENV=${TORCH_ENV:-"MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456 OPENBLAS_NUM_THREADS=1 $coretype OMP_NUM_THREADS=$THREADS"}

mkdir -p "$OUT/logs" "$OUT/models"
: > "$OUT/results.tsv"
: > "$OUT/commands.txt"

if [ -z "${WORDS:-}" ]; then
    WORDS=$OUT/ewt-words.tsv
    $PY "$ROOT/bench/make_ewt_words.py" "$EWT" > "$WORDS"
fi

# recur's defaults for a train command, as torch_apps.py flags: every
# "--name VALUE ... (default: V)" line of its --help that the script knows,
# and the direction.
torch_defaults() { # $1: classify|tag, $2: a key to leave out (given otherwise)
    local skip=${2:-}
    local keys=" steps cell hidden layers embed dropout dropout-in dropout-out batch val-frac epochs eval-every optim lr schedule lr-decay lr-decay-every warmup lr-min patience weight-decay clip clip-mode momentum column "
    local help
    help=$("$RECUR" "$1" train --help)
    printf '%s\n' "$help" | sed -n 's/^  --\([a-z-]*\) [A-Z][A-Z]* .*(default: \([^)]*\))$/\1 \2/p' |
        while read -r k v; do
            [ "$k" = "$skip" ] && continue
            case "$keys" in *" $k "*) printf -- '--%s %s ' "$k" "$v" ;; esac
        done
    if printf '%s\n' "$help" | grep -q -- '--bidirectional .*(the default here)'; then
        printf -- '--bidirectional'
    else
        printf -- '--unidirectional'
    fi
}

now() { date +%s.%N; }

# One run of each engine; appends "dataset seed metric recur torch recur_s torch_s" rows.
run_pair() { # $1 name, $2 seed, $3 mode (classify|tag), $4... data arguments
    local name=$1 seed=$2 mode=$3
    shift 3
    local extra=() epochs=""
    if [ "$mode" = tag ]; then epochs=$TAG_EPOCHS; else epochs=$CLASSIFY_EPOCHS; fi
    [ -n "$epochs" ] && extra=(--epochs "$epochs")
    local tag=$name.seed$seed
    local rcmd=("$RECUR" "$mode" train "$@" --seed "$seed" --threads "$THREADS" "${extra[@]}"
                --out "$OUT/models/$tag.safetensors" --json)
    # word splitting wanted: TORCH_ENV, TORCH, the defaults and TORCH_ARGS are lists
    # shellcheck disable=SC2206,SC2207
    local tcmd=(env $TORCH_ENV $TORCH "$mode" "$@" $(torch_defaults "$mode" ${epochs:+epochs}) --seed "$seed" --threads "$THREADS" "${extra[@]}" ${TORCH_ARGS:-})
    [ "$mode" = classify ] && tcmd+=(--dump-split "$OUT/logs/$tag.split.torch")
    printf '%s\n' "${rcmd[*]}" "${tcmd[*]}" >> "$OUT/commands.txt"

    echo "[$tag] recur ..." >&2
    local t0 t1 t2
    t0=$(now)
    $NICE "${rcmd[@]}" > "$OUT/logs/$tag.recur.json" 2> "$OUT/logs/$tag.recur.log"
    t1=$(now)
    echo "[$tag] pytorch ..." >&2
    $NICE "${tcmd[@]}" > "$OUT/logs/$tag.torch.json" 2> "$OUT/logs/$tag.torch.log"
    t2=$(now)

    if [ "$mode" = classify ] && [ -x "$OUT/app_split_dump" ]; then
        local vf
        vf=$("$RECUR" classify train --help | sed -n 's/^  --val-frac X .*(default: \([^)]*\))$/\1/p')
        "$OUT/app_split_dump" "$1" "$seed" "${vf:-0.1}" > "$OUT/logs/$tag.split.recur"
        if ! cmp -s "$OUT/logs/$tag.split.recur" "$OUT/logs/$tag.split.torch"; then
            echo "app_parity: $tag: the PyTorch split differs from recur's" >&2
            exit 1
        fi
    fi
    $PY - "$name" "$seed" "$mode" "$OUT/logs/$tag.recur.json" "$OUT/logs/$tag.torch.json" \
        "$(awk "BEGIN{print $t1 - $t0}")" "$(awk "BEGIN{print $t2 - $t1}")" >> "$OUT/results.tsv" <<'EOF'
import json, sys
name, seed, mode, rpath, tpath, rs, ts = sys.argv[1:]
r = [json.loads(l) for l in open(rpath) if l.strip()]
t = json.loads([l for l in open(tpath) if l.strip()][-1])
rows = [("val", r[0]["accuracy"], t["val_accuracy"])]
if mode == "tag" and len(r) > 1 and "test_accuracy" in t:
    rows.append(("test", r[1]["accuracy"], t["test_accuracy"]))
for metric, a, b in rows:
    print(f"{name}\t{seed}\t{metric}\t{a:.6f}\t{b:.6f}\t{float(rs):.1f}\t{float(ts):.1f}")
EOF
}

# recur's own split, to check the PyTorch script's against it.
if command -v cc > /dev/null && [ -f "$ROOT/build/librecur_internal.a" ]; then
    cc -O1 -std=c11 -D_POSIX_C_SOURCE=200809L -I"$ROOT/src" -I"$ROOT/include" "$ROOT/bench/app_split_dump.c" \
        "$ROOT/build/librecur_internal.a" -lm -lpthread -o "$OUT/app_split_dump" 2> "$OUT/logs/app_split_dump.cc.log" ||
        echo "app_parity: could not build bench/app_split_dump.c; the split is not checked" >&2
fi

for seed in $SEEDS; do
    for d in $DATASETS; do
        case $d in
        names) run_pair names "$seed" classify "$NAMES" ;;
        ewt-words) run_pair ewt-words "$seed" classify "$WORDS" ;;
        ewt-tag) run_pair ewt-tag "$seed" tag "$EWT/train.tsv" --dev "$EWT/dev.tsv" --test "$EWT/test.tsv" ;;
        *) echo "app_parity: unknown dataset $d" >&2; exit 2 ;;
        esac
    done
done

$PY - "$OUT/results.tsv" "$OUT/commands.txt" "$THREADS" "${TAG_EPOCHS:-recur default}" <<'EOF'
import sys
from collections import OrderedDict
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
what = {"names": "data/names", "ewt-words": "EWT word classes", "ewt-tag": "UD EWT tagging"}
print(f"Accuracy (top-1; tagging: per token), {sys.argv[3]} thread(s), tagging epochs: {sys.argv[4]}\n")
print("| dataset | split | seed | recur | PyTorch | recur - PyTorch (points) | recur s | PyTorch s |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
groups = OrderedDict()
for name, seed, metric, a, b, rs, ts in rows:
    a, b = float(a), float(b)
    groups.setdefault((name, metric), []).append((a, b, float(rs), float(ts)))
    print(f"| {what.get(name, name)} | {metric} | {seed} | {a:.4f} | {b:.4f} | {100 * (a - b):+.2f} | {rs} | {ts} |")
for (name, metric), v in groups.items():
    n = len(v)
    ma, mb = sum(x[0] for x in v) / n, sum(x[1] for x in v) / n
    mr, mt = sum(x[2] for x in v) / n, sum(x[3] for x in v) / n
    print(f"| **{what.get(name, name)}** | {metric} | mean of {n} | **{ma:.4f}** | **{mb:.4f}** | **{100 * (ma - mb):+.2f}** | {mr:.1f} | {mt:.1f} |")
print("\nCommands (per seed):\n\n```")
for l in open(sys.argv[2]):
    print(l.rstrip("\n"))
print("```")
EOF
