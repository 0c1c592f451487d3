#!/usr/bin/env bash
# cli_examples.sh - the programs in examples/ build against the public header
# and work: train a tiny model with the CLI, then generate from it in C.
# usage: cli_examples.sh RECUR_BINARY SOURCE_DIR EXAMPLES_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
gen=$examples/example_generate
head -c 20000 "$src/data/tinyshakespeare.txt" >"$tmp/t.txt"
"$recur" train "$tmp/t.txt" --hidden 16 --layers 1 --steps 5 --seq 16 --batch 4 --out "$tmp/m.safetensors" --quiet
if [ ! -x "$gen" ]; then
    bad "example_generate was not built"
else
    out=$("$gen" "$tmp/m.safetensors" "ROMEO:" 50)
    if [ "${out:0:6}" = "ROMEO:" ] && [ "${#out}" -ge 56 ]; then ok; else bad "example_generate printed: $out"; fi
    if "$gen" "$tmp/m.safetensors" "{}" 5 2>"$tmp/err"; then
        bad "example_generate accepted a prime outside the vocabulary"
    else
        ok
    fi
fi

# One example per application, on models trained here in seconds.
for i in $(seq 1 40); do printf 'Russian\tZ%xov\nPolish\tQ%xski\n' $((i * 7919 % 4093)) $((i * 104729 % 4093)); done >"$tmp/n.tsv"
"$recur" classify train "$tmp/n.tsv" --hidden 16 --embed 8 --epochs 8 --lr 0.01 --out "$tmp/c.safetensors" --quiet --threads 1 >/dev/null
out=$("$examples/example_classify" "$tmp/c.safetensors" Zmirnov Qowalski | cut -f2 | tr '\n' ' ')
if [ "$out" = "Russian Polish " ]; then ok; else bad "example_classify: $out"; fi
for i in $(seq 1 60); do printf 'we\tW\n%d\tN\n\n' $((i * 37)); done >"$tmp/t.tsv"
"$recur" tag train "$tmp/t.tsv" --hidden 16 --layers 1 --embed 8 --epochs 3 --lr 0.01 --out "$tmp/t.safetensors" --quiet --threads 1 >/dev/null
out=$("$examples/example_tag" "$tmp/t.safetensors" we 42)
if [ "$out" = "we/W 42/N" ]; then ok; else bad "example_tag: $out"; fi
mkdir -p "$tmp/g"
for i in $(seq 1 150); do printf 'Z%xov\n' $((i * 7919 % 4093)); done >"$tmp/g/Russian.txt"
for i in $(seq 1 150); do printf 'Q%xski\n' $((i * 104729 % 4093)); done >"$tmp/g/Polish.txt"
"$recur" train "$tmp/g" --by-class --hidden 24 --embed 8 --steps 300 --batch 16 --lr 0.01 --out "$tmp/g.safetensors" --quiet --threads 1
out=$("$examples/example_by_class" "$tmp/g.safetensors" Polish 4)
if [ "$(printf '%s\n' "$out" | grep -c 'ski$')" -ge 3 ]; then ok; else bad "example_by_class: $out"; fi

# train.c: one way to train every task; stopped (by --steps) and resumed
# from C it gives the model the CLI's resume gives.
if [ -x "$examples/example_train" ]; then
    for t in classify tag; do
        data=$tmp/n.tsv
        [ $t = tag ] && data=$tmp/t.tsv
        if "$examples/example_train" $t "$data" "$tmp/x$t.safetensors" >"$tmp/x.out" 2>&1 &&
            grep -q "val loss" "$tmp/x.out" && grep -q "accuracy" "$tmp/x.out" &&
            "$recur" info "$tmp/x$t.safetensors" | grep -q "^steps *200"; then ok; else bad "example_train $t: $(cat "$tmp/x.out")"; fi
    done
    out=$("$examples/example_classify" "$tmp/xclassify.safetensors" Zmirnov Qowalski | cut -f2 | tr '\n' ' ')
    if [ "$out" = "Russian Polish " ]; then ok; else bad "example_train's classifier: $out"; fi
    "$recur" seq2seq generate reverse --n 300 >"$tmp/p.tsv"
    if "$examples/example_train" seq2seq "$tmp/p.tsv" "$tmp/s.safetensors" >"$tmp/x.out" 2>&1 &&
        grep -q "exact_match" "$tmp/x.out"; then ok; else bad "example_train seq2seq: $(cat "$tmp/x.out")"; fi
    # Resume: a second run from the state of a run that ended continues to the same end.
    if "$examples/example_train" lm "$tmp/t.txt" "$tmp/l.safetensors" --resume >"$tmp/x.out" 2>&1; then
        bad "example_train resumed from a state that does not exist"
    else ok; fi
    "$examples/example_train" lm "$tmp/t.txt" "$tmp/l.safetensors" >/dev/null 2>&1 || bad "example_train lm"
    if "$examples/example_train" lm "$tmp/t.txt" "$tmp/l.safetensors" --resume >"$tmp/x.out" 2>&1 &&
        grep -q "step 200" "$tmp/x.out"; then ok; else bad "example_train lm --resume: $(cat "$tmp/x.out")"; fi
else
    bad "example_train was not built"
fi
finish
