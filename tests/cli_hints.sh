#!/usr/bin/env bash
# cli_hints.sh - mistakes the CLI answers with a hint: an unknown option
# names the closest one ("did you mean --hidden?") and only when one is
# close; a file given as a checkpoint that is not a safetensors file (a
# text, a truncated file, a PyTorch-style zip) says so before any detail.
# usage: cli_hints.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

expect 2 "unknown option '--hiden'; did you mean --hidden?" "a typo" -- "$recur" train x --hiden 5
expect 2 "did you mean --temperature?" "a prefix" -- "$recur" sample x --temp 0.5
expect 2 "did you mean --lr-decay?" "the closest of several" -- "$recur" train x --lr-decy 0.9
expect 2 "did you mean --attention?" "a subcommand's option" -- \
    "$recur" seq2seq train x.tsv --atention
expect 2 "unknown option '--zzzzzz'" "nothing close" -- "$recur" train x --zzzzzz
if grep -q "did you mean" "$tmp/err"; then bad "a hint for an option nothing is close to"; else ok; fi

printf 'First Citizen:\nBefore we proceed any further, hear me speak.\n' >"$tmp/text.txt"
printf 'PK\003\004' >"$tmp/short.pt"
printf '\022\000\000\000\000\000\000\000[1, 2, 3, 4, 5, 6]' >"$tmp/array.st"
expect 1 "text.txt: not a safetensors file: header length" "a text as a checkpoint" -- \
    "$recur" sample "$tmp/text.txt"
expect 1 "short.pt: not a safetensors file: file is 4 bytes" "a short file" -- \
    "$recur" info "$tmp/short.pt"
expect 1 "array.st: not a safetensors file: header is a JSON array" "a JSON header, not an object" -- \
    "$recur" eval "$tmp/array.st" "$tmp/text.txt"
finish
