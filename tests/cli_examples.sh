#!/usr/bin/env bash
# cli_examples.sh - the programs in examples/ build against the public header
# and work: train a tiny model with the CLI, then generate from it in C.
# usage: cli_examples.sh RECUR_BINARY SOURCE_DIR EXAMPLES_DIR
set -euo pipefail
recur=$1
src=$2
gen=${3:-}/example_generate
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
head -c 20000 "$src/data/tinyshakespeare.txt" >"$tmp/t.txt"
"$recur" train "$tmp/t.txt" --hidden 16 --layers 1 --steps 5 --seq 16 --batch 4 --out "$tmp/m.safetensors" --quiet
if [ ! -x "$gen" ]; then
    echo "FAIL: example_generate was not built" >&2
    fail=1
else
    out=$("$gen" "$tmp/m.safetensors" "ROMEO:" 50)
    if [ "${out:0:6}" = "ROMEO:" ] && [ "${#out}" -ge 56 ]; then pass=$((pass + 1)); else
        echo "FAIL: example_generate printed: $out" >&2
        fail=$((fail + 1))
    fi
    if "$gen" "$tmp/m.safetensors" "{}" 5 2>"$tmp/err"; then
        echo "FAIL: example_generate accepted a prime outside the vocabulary" >&2
        fail=$((fail + 1))
    else
        pass=$((pass + 1))
    fi
fi

# One example per application, on models trained here in seconds.
ex=${3:-}
for i in $(seq 1 40); do printf 'Russian\tZ%xov\nPolish\tQ%xski\n' $((i * 7919 % 4093)) $((i * 104729 % 4093)); done >"$tmp/n.tsv"
"$recur" classify train "$tmp/n.tsv" --hidden 16 --embed 8 --epochs 8 --lr 0.01 --out "$tmp/c.safetensors" --quiet --threads 1 >/dev/null
out=$("$ex/example_classify" "$tmp/c.safetensors" Zmirnov Qowalski | cut -f2 | tr '\n' ' ')
if [ "$out" = "Russian Polish " ]; then pass=$((pass + 1)); else echo "FAIL: example_classify: $out" >&2; fail=$((fail + 1)); fi
for i in $(seq 1 60); do printf 'we\tW\n%d\tN\n\n' $((i * 37)); done >"$tmp/t.tsv"
"$recur" tag train "$tmp/t.tsv" --hidden 16 --layers 1 --embed 8 --epochs 3 --lr 0.01 --out "$tmp/t.safetensors" --quiet --threads 1 >/dev/null
out=$("$ex/example_tag" "$tmp/t.safetensors" we 42)
if [ "$out" = "we/W 42/N" ]; then pass=$((pass + 1)); else echo "FAIL: example_tag: $out" >&2; fail=$((fail + 1)); fi
mkdir -p "$tmp/g"
for i in $(seq 1 150); do printf 'Z%xov\n' $((i * 7919 % 4093)); done >"$tmp/g/Russian.txt"
for i in $(seq 1 150); do printf 'Q%xski\n' $((i * 104729 % 4093)); done >"$tmp/g/Polish.txt"
"$recur" train "$tmp/g" --by-class --hidden 24 --embed 8 --steps 300 --batch 16 --lr 0.01 --out "$tmp/g.safetensors" --quiet --threads 1
out=$("$ex/example_by_class" "$tmp/g.safetensors" Polish 4)
if [ "$(printf '%s\n' "$out" | grep -c 'ski$')" -ge 3 ]; then pass=$((pass + 1)); else echo "FAIL: example_by_class: $out" >&2; fail=$((fail + 1)); fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
