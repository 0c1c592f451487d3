#!/usr/bin/env bash
# cli_apps.sh - the applications' commands: classify train/predict, tag
# train/predict/eval, train --by-class and sample --class, on tiny generated
# data; output formats, exit codes and one-line errors.
# usage: cli_apps.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

run() { # run CODE DESCRIPTION CMD...
    local code=$1 what=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$?
    if [ "$got" != "$code" ]; then bad "$what: exit $got, expected $code: $(head -c 300 "$tmp/err")"; return 1; fi
    if [ "$code" = 1 ] && { [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -q '^recur' "$tmp/err"; }; then
        bad "$what: expected one 'recur ...' line on stderr: $(cat "$tmp/err")"
        return 1
    fi
    ok
}

# Names ending -ov are Russian, -ski Polish (a TSV this time).
for i in $(seq 1 60); do
    printf 'Russian\t%sov\nPolish\t%sski\n' "$(printf 'B%xa' $((i * 7919 % 4093)))" "$(printf 'K%xe' $((i * 104729 % 4093)))"
done >"$tmp/names.tsv"
run 0 "classify train" "$recur" classify train "$tmp/names.tsv" --hidden 16 --embed 8 --epochs 8 --lr 0.01 \
    --out "$tmp/c.safetensors" --quiet --threads 1
grep -q "validation accuracy" "$tmp/out" && ok || bad "classify train prints no accuracy"
run 0 "classify train --json" "$recur" classify train "$tmp/names.tsv" --hidden 16 --embed 8 --epochs 1 \
    --out "$tmp/c2.safetensors" --quiet --json --threads 1
grep -q '^{"accuracy":.*"confusion":' "$tmp/out" && ok || bad "classify --json: $(head -c 200 "$tmp/out")"
run 0 "classify predict args" "$recur" classify predict "$tmp/c.safetensors" Petrov Nowakski --top-k 2
[ "$(wc -l <"$tmp/out")" = 2 ] && head -n 1 "$tmp/out" | grep -Eq '^Russian 0\.[0-9]{4} Polish 0\.[0-9]{4}$' && ok ||
    bad "classify predict output: $(cat "$tmp/out")"
printf 'Ivanov\nWiśniewski\n' | "$recur" classify predict "$tmp/c.safetensors" >"$tmp/out" 2>&1
[ "$(cut -d' ' -f1 "$tmp/out" | tr '\n' ' ')" = "Russian Polish " ] && ok || bad "classify predict stdin: $(cat "$tmp/out")"
run 1 "classify predict on a language model" "$recur" classify predict "$tmp/nope.safetensors" x
run 2 "classify without subcommand" "$recur" classify
run 1 "classify train, missing data" "$recur" classify train "$tmp/none" --out "$tmp/x.safetensors"
printf 'Russian Ivanov\n' >"$tmp/bad.tsv"
run 1 "classify train, line without tab" "$recur" classify train "$tmp/bad.tsv" --out "$tmp/x.safetensors"
grep -q "bad.tsv:1" "$tmp/err" && ok || bad "no file:line in: $(cat "$tmp/err")"

# Tagging: digits are NUM, everything else WORD.
for i in $(seq 1 80); do
    printf 'the\tWORD\n%d\tNUM\ncats\tWORD\n\nwe\tWORD\nsaw\tWORD\n%d\tNUM\n\n' $((i * 37)) $((i * 91))
done >"$tmp/tag.tsv"
run 0 "tag train" "$recur" tag train "$tmp/tag.tsv" --dev "$tmp/tag.tsv" --hidden 16 --layers 1 --embed 8 \
    --epochs 3 --lr 0.01 --out "$tmp/t.safetensors" --quiet --threads 1
grep -q "per-token accuracy" "$tmp/out" && ok || bad "tag train prints no accuracy"
printf 'we saw 12345 cats\nthe 7\n' | "$recur" tag predict "$tmp/t.safetensors" >"$tmp/out" 2>&1
[ "$(cat "$tmp/out")" = "$(printf 'WORD WORD NUM WORD\nWORD NUM')" ] && ok || bad "tag predict: $(cat "$tmp/out")"
run 0 "tag eval --json" "$recur" tag eval "$tmp/t.safetensors" "$tmp/tag.tsv" --json
grep -q '"accuracy":1' "$tmp/out" && ok || bad "tag eval: $(head -c 200 "$tmp/out")"
run 2 "tag train --column 1" "$recur" tag train "$tmp/tag.tsv" --column 1
printf 'onlytoken\n' >"$tmp/badtag.tsv"
run 1 "tag train, line without a tag" "$recur" tag train "$tmp/badtag.tsv" --out "$tmp/x.safetensors" --quiet

# Generation by class, then sampling for a class.
mkdir -p "$tmp/gen"
for i in $(seq 1 80); do printf 'Z%xov\n' $((i * 7919 % 4093)); done >"$tmp/gen/Russian.txt"
for i in $(seq 1 80); do printf 'Q%xski\n' $((i * 104729 % 4093)); done >"$tmp/gen/Polish.txt"
run 0 "train --by-class" "$recur" train "$tmp/gen" --by-class --hidden 24 --embed 8 --epochs 10 --lr 0.01 \
    --out "$tmp/g.safetensors" --quiet --threads 1
run 0 "sample --class" "$recur" sample "$tmp/g.safetensors" --class Russian --prime Z --count 5 --temperature 0.5 --seed 3
[ "$(wc -l <"$tmp/out")" = 5 ] && [ "$(grep -c '^Z.*ov$' "$tmp/out")" -ge 4 ] && ok || bad "sample --class: $(cat "$tmp/out")"
run 1 "sample unknown class" "$recur" sample "$tmp/g.safetensors" --class Klingon
grep -q "Polish" "$tmp/err" && ok || bad "unknown class message lists no classes: $(cat "$tmp/err")"
run 1 "sample without --class" "$recur" sample "$tmp/g.safetensors"
run 1 "sample a classifier" "$recur" sample "$tmp/c.safetensors"
"$recur" info "$tmp/g.safetensors" >/dev/null 2>&1 && ok || bad "info on a by-class model"

finish
