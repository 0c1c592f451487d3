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
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
