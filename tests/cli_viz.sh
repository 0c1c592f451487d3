#!/usr/bin/env bash
# cli_viz.sh - recur viz without a browser: the page's sections for a
# language model, a classifier and a seq2seq model; --log alone; no network
# references; TEXT and labels escaped; the size bound; --unit's terminal
# colours; and every bad input as one clear line on stderr.
# (tests/cli_viz_browser.sh renders the page in Chromium; test_trace.c checks
# the page's numbers against the trace and the planted unit.)
# usage: cli_viz.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

has() { grep -qF -- "$2" "$1" && ok || bad "$1 lacks '$2'"; }
hasnt() { if grep -qF -- "$2" "$1"; then bad "$1 holds '$2'"; else ok; fi; }

# A text with quotes, brackets, indentation, and HTML that must stay text.
{
    printf 'He said "go <script>alert(1)</script> now & then" (twice [at least]).\n'
    printf '    indented "lines" & more (of them)\n        deeper\n'
    head -c 3000 "$src/data/tinyshakespeare.txt"
} >"$tmp/text.txt"
expect 0 "train a small lstm" -- "$recur" train "$tmp/text.txt" --cell lstm --hidden 24 --layers 2 --steps 40 \
    --seq 32 --batch 8 --eval-every 20 --sample-every 0 --threads 1 --quiet --val-frac 0.1 \
    --out "$tmp/lm.safetensors" --log "$tmp/log.jsonl"

# ---------------------------------------------------------------- a language model
expect 0 "viz" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --log "$tmp/log.jsonl" --out "$tmp/r.html"
for id in model curves expects cells ranking pick-layer pick-unit pick-value cells-text saturation samples viz-data; do
    has "$tmp/r.html" "id=\"$id\""
done
hasnt "$tmp/r.html" "http://"
hasnt "$tmp/r.html" "https://"
# TEXT reaches the page only as JSON with <, > and & escaped, and as escaped HTML.
hasnt "$tmp/r.html" "<script>alert"
has "$tmp/r.html" '"\u003c","s","c","r","i","p","t","\u003e","a","l","e","r","t"'
has "$tmp/r.html" '"n","o","w"," ","\u0026"," ","t","h","e","n"'
has "$tmp/r.html" "&lt;" # the vocabulary line holds < and &, escaped
has "$tmp/r.html" "&amp;"
[ "$(grep -c '<script' "$tmp/r.html")" = 3 ] && ok || bad "expected exactly 3 <script> elements (onerror, data, main)"
# Features present in this text rank units; every feature gets a best unit.
[ "$(grep -o 'class="unit-btn best"' "$tmp/r.html" | wc -l)" = 6 ] && ok || bad "not 6 best units"

# Size: the bound of docs/viz.md, bytes <= 150000 + N*(60 + 4/3*(v*(units+18) + 17)) + 8*L*D*H + 130000 (log),
# v = 5 (LSTM), units = the embedded layer's (24). Default N is 2000.
n=$(grep -o '"n":[0-9]*' "$tmp/r.html" | head -1 | cut -d: -f2)
bound=$((150000 + n * (60 + 4 * (5 * (24 + 18) + 17) / 3) + 8 * 2 * 24 + 130000))
size=$(wc -c <"$tmp/r.html")
echo "page: $size bytes for N=$n, LSTM 24x2 (bound $bound)"
[ "$n" = 2000 ] && [ "$size" -le "$bound" ] && ok || bad "size $size > bound $bound (N=$n)"
# --layer all embeds both layers: the per-character part about doubles.
expect 0 "viz --layer all" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --layer all --out "$tmp/all.html"
sall=$(wc -c <"$tmp/all.html")
bound_all=$((150000 + n * (60 + 4 * (5 * (48 + 18) + 17) / 3) + 8 * 2 * 24))
[ "$sall" -le "$bound_all" ] && [ "$sall" -gt "$size" ] && ok || bad "--layer all: $sall (bound $bound_all, top $size)"
expect 0 "viz --chars 100 --layer 0" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --chars 100 --layer 0 --out "$tmp/small.html"
grep -q '"n":100,' "$tmp/small.html" && ok || bad "--chars 100"

# ---------------------------------------------------------------- the log alone
expect 0 "viz --log alone" -- "$recur" viz --log "$tmp/log.jsonl" --out "$tmp/curves.html"
has "$tmp/curves.html" 'id="curves"'
hasnt "$tmp/curves.html" 'id="cells"'
hasnt "$tmp/curves.html" 'id="model"'
# Extra keys (other metrics) and nested values are fine.
sed 's/}$/,"bpc_extra":1.5,"nested":{"a":[1,2,"x}"]}}/' "$tmp/log.jsonl" >"$tmp/extra.jsonl"
expect 0 "viz --log with extra keys" -- "$recur" viz --log "$tmp/extra.jsonl" --out "$tmp/extra.html"

# ---------------------------------------------------------------- bad input
printf 'abc Ж def\n' >"$tmp/unknown.txt"
expect 1 "'Ж' (U+0416)" "a character outside the vocabulary" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/unknown.txt" --out "$tmp/x.html"
grep -q -- "--skip-unknown" "$tmp/err" && ok || bad "the unknown-character error does not mention --skip-unknown"
expect 0 "--skip-unknown" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/unknown.txt" --skip-unknown --out "$tmp/x.html"
has "$tmp/x.html" "1 characters outside the vocabulary left out"
: >"$tmp/empty.txt"
expect 1 "empty" "an empty text" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/empty.txt"
expect 2 "--chars" "--chars 0" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --chars 0
expect 2 "unit 5:3 does not exist" "a unit that does not exist" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --unit 5:3
expect 2 "unit 1:24 does not exist" "a unit past the layer's width" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --unit 1:24
expect 2 "--unit takes LAYER:UNIT" "a malformed unit" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --unit x
expect 2 "--layer must be" "a bad layer" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --layer 7
expect 2 "expected CKPT and TEXT" "one positional argument" -- "$recur" viz "$tmp/lm.safetensors"
{ head -n 2 "$tmp/log.jsonl"; echo 'step 3 loss 2.0'; } >"$tmp/bad.jsonl"
expect 1 "bad.jsonl line 3: not a JSON object" "a log line that is not JSON" -- "$recur" viz --log "$tmp/bad.jsonl"
{ head -n 1 "$tmp/log.jsonl"; echo '{"epoch":1,"train_loss":2.0}'; } >"$tmp/nostep.jsonl"
expect 1 "nostep.jsonl line 2: no \"step\"" "a log line without a step" -- "$recur" viz --log "$tmp/nostep.jsonl"
head -n 5 "$tmp/log.jsonl" >"$tmp/short.jsonl"
expect 1 "is it this model's log?" "another run's log" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --log "$tmp/short.jsonl"
expect 1 "cannot open" "a missing log" -- "$recur" viz --log "$tmp/none.jsonl"
expect 1 "" "a missing checkpoint" -- "$recur" viz "$tmp/none.safetensors" "$tmp/text.txt"
expect 0 "--help" -- "$recur" viz --help
for o in --out --log --chars --layer --skip-unknown --unit --value --color; do has "$tmp/out" "$o"; done

# ---------------------------------------------------------------- the terminal
expect 0 "--unit always" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --unit 1:3 --chars 200 --color always
grep -q $'\x1b\[48;2;[0-9]*;[0-9]*;[0-9]*m' "$tmp/out" && ok || bad "no 24-bit background colours"
tail -n 1 "$tmp/out" | grep -q "^unit 1:3 h: " && ok || bad "no legend line: $(tail -n 1 "$tmp/out")"
expect 0 "--unit piped" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --unit 0:0 --value c --chars 200
if grep -q $'\x1b' "$tmp/out"; then bad "colours on a pipe"; else ok; fi
# Plain: the text itself, then the legend.
[ "$(head -c 200 "$tmp/text.txt")" = "$(head -n -1 "$tmp/out" | head -c 200)" ] && ok || bad "plain --unit output is not the text"
tail -n 1 "$tmp/out" | grep -q "^unit 0:0 c (c / " && ok || bad "no plain legend: $(tail -n 1 "$tmp/out")"
expect 2 "no such value" "--value on the wrong cell" -- "$recur" viz "$tmp/lm.safetensors" "$tmp/text.txt" --unit 0:0 --value z

# ---------------------------------------------------------------- a classifier
for i in $(seq 1 40); do
    printf '<b>&amp\t%sov\nPolish\t%sski\n' "$(printf 'B%xa' $((i * 7919 % 4093)))" "$(printf 'K%xe' $((i * 104729 % 4093)))"
done >"$tmp/names.tsv"
expect 0 "classify train" -- "$recur" classify train "$tmp/names.tsv" --hidden 12 --embed 6 --epochs 2 --lr 0.01 \
    --out "$tmp/c.safetensors" --quiet --threads 1
printf '<b>&amp\tIvanov<script>x</script>\nPolish\tNowakski\n<b>&amp\tPetrov\n' >"$tmp/cls.tsv"
expect 0 "viz on a classifier" -- "$recur" viz "$tmp/c.safetensors" "$tmp/cls.tsv" --out "$tmp/c.html"
has "$tmp/c.html" 'id="confusion"'
has "$tmp/c.html" 'id="class-probs"'
has "$tmp/c.html" "&lt;b&gt;&amp;amp"
hasnt "$tmp/c.html" "<b>&amp"
hasnt "$tmp/c.html" "<script>x"
hasnt "$tmp/c.html" "http://"
printf 'Dutch\tvan Dijk\n' >"$tmp/badlabel.tsv"
expect 1 "line 1: label 'Dutch' is not one of" "an unknown label" -- "$recur" viz "$tmp/c.safetensors" "$tmp/badlabel.tsv"
printf 'no tab here\n' >"$tmp/notab.tsv"
expect 1 "line 1: expected label<TAB>text" "a line without a label" -- "$recur" viz "$tmp/c.safetensors" "$tmp/notab.tsv"

# ---------------------------------------------------------------- seq2seq
"$recur" seq2seq generate reverse --n 300 >"$tmp/pairs.tsv" 2>/dev/null
expect 0 "seq2seq train" -- "$recur" seq2seq train "$tmp/pairs.tsv" --attention --hidden 16 --epochs 1 \
    --out "$tmp/s.safetensors" --quiet --threads 1
printf 'abcd\nhgfe\tefgh\n' >"$tmp/src.txt"
expect 0 "viz on seq2seq" -- "$recur" viz "$tmp/s.safetensors" "$tmp/src.txt" --out "$tmp/s.html"
has "$tmp/s.html" 'id="attention"'
[ "$(grep -o '<table class="heat">' "$tmp/s.html" | wc -l)" = 2 ] && ok || bad "expected 2 attention maps"
hasnt "$tmp/s.html" "http://"
expect 2 "--unit is for" "--unit on seq2seq" -- "$recur" viz "$tmp/s.safetensors" "$tmp/src.txt" --unit 0:0

# ---------------------------------------------------------------- the example
if [ -n "$examples" ] && [ -x "$examples/example_trace" ]; then
    expect 0 "examples/trace.c" -- "$examples/example_trace" "$tmp/lm.safetensors" "First Citizen:" 1 3
    [ "$(wc -l <"$tmp/out")" = 16 ] && grep -q "^position in line: best unit [01]:[0-9]*, r = " "$tmp/out" && ok ||
        bad "example_trace output: $(cat "$tmp/out")"
    "$examples/example_trace" "$tmp/lm.safetensors" "First" 9 0 >/dev/null 2>"$tmp/err"
    [ $? = 2 ] && grep -q "no unit 9:0" "$tmp/err" && ok || bad "examples/trace.c, no such unit: $(cat "$tmp/err")"
fi

finish
