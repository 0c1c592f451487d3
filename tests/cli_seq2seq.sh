#!/usr/bin/env bash
# cli_seq2seq.sh - `recur seq2seq` from the command line: generate pairs,
# train (with and without --attention) on a tiny file, predict from stdin
# (greedy and --beam), eval, the C example; and the contract: --help exits
# 0, bad usage 2, other errors (a line without a TAB, a missing file, a
# reserved character, invalid UTF-8, a checkpoint of another kind) 1, always
# with one 'recur ...' line on stderr; an unseen character is read as U+FFFD.
# usage: cli_seq2seq.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# expect (tests/lib.sh) runs each command with stdin from $tmp/in.
expect_stdin=$tmp/in
: >"$tmp/in"

# ---- help and usage
expect 0 "seq2seq --help" -- "$recur" seq2seq --help
for c in train predict eval generate; do
    expect 0 "seq2seq $c --help" -- "$recur" seq2seq "$c" --help
    grep -q "usage: recur seq2seq $c" "$tmp/out" || bad "seq2seq $c --help has no usage line"
done
grep -q -- "--attention" <("$recur" seq2seq train --help) || bad "train --help lacks --attention"
grep -q -- "--beam K" <("$recur" seq2seq predict --help) || bad "predict --help lacks --beam"
expect 2 "no subcommand" -- "$recur" seq2seq
expect 2 "unknown subcommand" -- "$recur" seq2seq frobnicate
expect 2 "train without --out" -- "$recur" seq2seq train x.tsv
expect 2 "train without a file" -- "$recur" seq2seq train --out m.st
expect 2 "unknown option" -- "$recur" seq2seq train x.tsv --out m.st --atention
expect 2 "bad cell" -- "$recur" seq2seq train x.tsv --out m.st --cell transformer
expect 2 "steps and epochs" -- "$recur" seq2seq train x.tsv --out m.st --steps 5 --epochs 1
expect 2 "predict beam 0" -- "$recur" seq2seq predict m.st --beam 0
expect 2 "predict without a checkpoint" -- "$recur" seq2seq predict
expect 2 "eval needs two" -- "$recur" seq2seq eval m.st
expect 2 "generate unknown task" -- "$recur" seq2seq generate sort
expect 2 "generate min above max" -- "$recur" seq2seq generate add --min 5 --max 2

# ---- data errors: exit 1
printf 'abc\tcba\nno tab here\n' >"$tmp/notab.tsv"
expect 1 "missing TAB" -- "$recur" seq2seq train "$tmp/notab.tsv" --out "$tmp/m.st" --quiet
grep -q "notab.tsv:2: no TAB" "$tmp/err" || bad "missing TAB: message does not name file:line: $(cat "$tmp/err")"
expect 1 "missing file" -- "$recur" seq2seq train "$tmp/nope.tsv" --out "$tmp/m.st" --quiet
grep -q "nope.tsv" "$tmp/err" || bad "missing file: message does not name it"
printf 'a\003b\tx\n' >"$tmp/reserved.tsv"
expect 1 "reserved character" -- "$recur" seq2seq train "$tmp/reserved.tsv" --out "$tmp/m.st" --quiet
grep -q "U+0003" "$tmp/err" || bad "reserved character: message does not name it: $(cat "$tmp/err")"
expect 1 "predict missing checkpoint" -- "$recur" seq2seq predict "$tmp/nope.st"

# ---- generate, train, predict, eval
expect 0 "generate reverse" -- "$recur" seq2seq generate reverse --n 300 --min 2 --max 4 --alphabet abc --seed 4
cp "$tmp/out" "$tmp/rev.tsv"
[ "$(wc -l <"$tmp/rev.tsv")" = 300 ] || bad "generate printed $(wc -l <"$tmp/rev.tsv") lines, expected 300"
awk -F'\t' '{ s = ""; for (i = length($1); i > 0; i--) s = s substr($1, i, 1); if (s != $2) exit 1 }' \
    "$tmp/rev.tsv" || bad "generated reversal pairs are wrong"
"$recur" seq2seq generate reverse --n 300 --min 2 --max 4 --alphabet abc --seed 4 | cmp -s - "$tmp/rev.tsv" ||
    bad "generate is not repeatable with the same seed"
expect 0 "generate add" -- "$recur" seq2seq generate add --n 50 --min 1 --max 3 --seed 2
awk -F'\t' '{ split($1, a, "+"); if (a[1] + a[2] != $2) exit 1 }' "$tmp/out" || bad "generated sums are wrong"

for att in "" --attention; do
    expect 0 "train ${att:-plain}" -- "$recur" seq2seq train "$tmp/rev.tsv" --out "$tmp/m$att.st" $att \
        --hidden 12 --steps 40 --batch 16 --eval-every 20 --seed 3 --threads 1
    grep -q "val exact match" "$tmp/err" || bad "train ${att:-plain}: no validation exact match in the progress: $(tail -3 "$tmp/err")"
    grep -q "^done: 40 steps" "$tmp/err" || bad "train ${att:-plain}: no final line"
    [ -s "$tmp/m$att.st" ] || bad "train ${att:-plain}: no checkpoint written"
done
printf 'abc\nba\n\ncccc\n' >"$tmp/in"
for beam in 1 3; do
    expect 0 "predict beam $beam" -- "$recur" seq2seq predict "$tmp/m--attention.st" --beam "$beam"
    [ "$(wc -l <"$tmp/out")" = 4 ] || bad "predict beam $beam: $(wc -l <"$tmp/out") lines for 4 sources"
    grep -qv '^[abc]*$' "$tmp/out" && bad "predict beam $beam wrote characters outside the target vocabulary"
done
cp "$tmp/out" "$tmp/beam3.out"
printf 'abz\n' >"$tmp/in"
expect 0 "predict an unseen character (read as U+FFFD)" -- "$recur" seq2seq predict "$tmp/m.st"
printf 'ab\xff\n' >"$tmp/in"
expect 1 "predict invalid UTF-8" -- "$recur" seq2seq predict "$tmp/m.st"
grep -q "line 1: .*UTF-8" "$tmp/err" || bad "invalid UTF-8: message does not name the line: $(cat "$tmp/err")"
: >"$tmp/in"
expect 0 "eval" -- "$recur" seq2seq eval "$tmp/m--attention.st" "$tmp/rev.tsv"
grep -q "exact match" "$tmp/out" || bad "eval prints no exact match"
expect 0 "eval --json --beam 2" -- "$recur" seq2seq eval "$tmp/m.st" "$tmp/rev.tsv" --json --beam 2
grep -q '"exact_match":' "$tmp/out" || bad "eval --json: $(cat "$tmp/out")"

# ---- checkpoints of another kind
head -c 3000 "$2/data/tinyshakespeare.txt" >"$tmp/t.txt"
"$recur" train "$tmp/t.txt" --hidden 8 --layers 1 --steps 2 --seq 8 --batch 2 --out "$tmp/lm.st" --quiet
expect 1 "predict with a language model" -- "$recur" seq2seq predict "$tmp/lm.st"
grep -q "not a seq2seq checkpoint" "$tmp/err" || bad "LM checkpoint: $(cat "$tmp/err")"
expect 1 "sample with a seq2seq model" -- "$recur" sample "$tmp/m.st" --length 5

# ---- the C example
if [ -n "$examples" ] && [ -x "$examples/example_seq2seq" ]; then
    printf 'abc\nba\n\ncccc\n' | "$examples/example_seq2seq" "$tmp/m--attention.st" 3 >"$tmp/ex.out" 2>"$tmp/err" ||
        bad "example_seq2seq failed: $(cat "$tmp/err")"
    cmp -s "$tmp/ex.out" "$tmp/beam3.out" || bad "example_seq2seq (beam 3) differs from recur seq2seq predict --beam 3"
    printf 'ab\xff\n' | "$examples/example_seq2seq" "$tmp/m.st" >/dev/null 2>&1 && bad "example_seq2seq accepted invalid UTF-8"
    ok
elif [ -n "$examples" ]; then
    bad "example_seq2seq was not built in $examples"
fi

finish
