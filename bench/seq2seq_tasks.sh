#!/usr/bin/env bash
# seq2seq_tasks.sh - the numbers in docs/applications.md, "Sequence-to-sequence":
# generates string-reversal and addition pairs with `recur seq2seq generate`
# (fixed seeds), holds out test pairs whose sources never occur in training,
# trains with and without --attention at the CLI's defaults, and prints
# held-out exact match (greedy and beam 4) as a Markdown table.
# usage: bench/seq2seq_tasks.sh [RECUR_BINARY] [WORKDIR]   (about 15 minutes on one core;
# THREADS=N to use more)
set -euo pipefail
recur=${1:-build/recur}
dir=${2:-$(mktemp -d)}
mkdir -p "$dir"
threads=${THREADS:-1}

# gen NAME TASK TRAIN_N ARGS...: NAME.train.tsv and NAME.test.tsv (test sources
# that also occur in training removed).
gen() {
    local name=$1 task=$2 n=$3
    shift 3
    "$recur" seq2seq generate "$task" --n "$n" --seed 1 "$@" >"$dir/$name.train.tsv"
    "$recur" seq2seq generate "$task" --n 2000 --seed 2 "$@" >"$dir/$name.all-test.tsv"
    awk -F'\t' 'NR == FNR { seen[$1] = 1; next } !($1 in seen)' "$dir/$name.train.tsv" \
        "$dir/$name.all-test.tsv" >"$dir/$name.test.tsv"
}

gen reverse reverse 20000 --min 3 --max 8 --alphabet abcdefgh
gen reverse-long reverse 20000 --min 10 --max 20 --alphabet abcdefgh
gen add add 30000 --min 1 --max 3

echo "| task | attention | train pairs | held-out pairs | exact (greedy) | exact (beam 4) | char accuracy | train time |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
for task in reverse reverse-long add; do
    for att in "" --attention; do
        ckpt="$dir/$task${att:+-att}.safetensors"
        t0=$(date +%s)
        "$recur" seq2seq train "$dir/$task.train.tsv" --out "$ckpt" $att --threads "$threads" --quiet
        t1=$(date +%s)
        g=$("$recur" seq2seq eval "$ckpt" "$dir/$task.test.tsv" --json)
        b=$("$recur" seq2seq eval "$ckpt" "$dir/$task.test.tsv" --json --beam 4)
        field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
        printf '| %s | %s | %s | %s | %.1f%% | %.1f%% | %.1f%% | %ss |\n' "$task" "$([ -n "$att" ] && echo on || echo off)" \
            "$(wc -l <"$dir/$task.train.tsv")" "$(echo "$g" | field pairs)" \
            "$(echo "$g" | field exact_match | awk '{print 100 * $1}')" \
            "$(echo "$b" | field exact_match | awk '{print 100 * $1}')" \
            "$(echo "$g" | field char_accuracy | awk '{print 100 * $1}')" "$((t1 - t0))"
    done
done
