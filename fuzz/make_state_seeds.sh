#!/usr/bin/env bash
# make_state_seeds.sh - the seed corpus of fuzz_state (and of
# fuzz_checkpoint): one resumable state of every task, from tiny models
# trained for two steps on tiny data made here.
#   bash fuzz/make_state_seeds.sh build/recur
set -euo pipefail
recur=$(realpath "${1:?usage: make_state_seeds.sh RECUR_BINARY}")
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/fuzz/corpus/state"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
printf 'A\tabc\nA\tbca\nA\tcab\nB\txyz\nB\tyzx\nB\tzxy\nC\tabz\nC\tzba\nC\tbaz\n' >cls.tsv
printf 'the\tDET\ncat\tNOUN\nsat\tVERB\n\na\tDET\ndog\tNOUN\nran\tVERB\n\n' >tag.tsv
printf 'abc\tcba\nab\tba\nbca\tacb\nca\tac\ncab\tbac\n' >pairs.tsv
printf 'hello world, hello there.\n' >text.txt
q=(--steps 2 --batch 2 --val-frac 0 --threads 1 --quiet)
"$recur" classify train cls.tsv --hidden 3 --embed 2 "${q[@]}" --out classify.safetensors >/dev/null
"$recur" classify train cls.tsv --hidden 3 --layers 2 --cell lstm --unidirectional --dropout 0.2 \
    --steps 2 --batch 2 --val-frac 0.3 --threads 1 --quiet --out classify_uni.safetensors >/dev/null
"$recur" tag train tag.tsv --hidden 3 --embed 2 --steps 2 --batch 1 --val-frac 0 --threads 1 --quiet \
    --out tag.safetensors >/dev/null
"$recur" train cls.tsv --by-class --hidden 3 "${q[@]}" --out condlm.safetensors
"$recur" seq2seq train pairs.tsv --hidden 3 --attention "${q[@]}" --out s2s.safetensors
"$recur" seq2seq train pairs.tsv --hidden 3 --cell gru --embed 2 "${q[@]}" --out s2s_gru.safetensors
"$recur" train text.txt --cell gru --hidden 3 --seq 4 --schedule cosine --warmup 1 "${q[@]}" --out lm_cosine.safetensors
for f in *.last.safetensors; do cp "$f" "$out/${f%.last.safetensors}_state.safetensors"; done
ls -l "$out"
