#!/usr/bin/env bash
# cli_basic.sh - the recur command's contract: exit codes (0 ok, 2 usage,
# 1 error) with one clear line on stderr, --help everywhere, `recur hello`
# ending in 'ello', train -> sample -> eval -> info on a small text, sampling
# repeatable with a seed, prime and eval characters outside the vocabulary.
# usage: cli_basic.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---- usage errors: exit 2
expect 2 "no command" -- "$recur"
expect 2 "unknown command" -- "$recur" frobnicate
expect 2 "unknown option" -- "$recur" train x --hiden 5
expect 2 "bad number" -- "$recur" train x --hidden abc
expect 2 "zero hidden" -- "$recur" train x --hidden 0
expect 2 "negative seq" -- "$recur" train x --seq -3
expect 2 "bad cell" -- "$recur" train x --cell transformer
expect 2 "missing value" -- "$recur" train x --hidden
expect 2 "no file" -- "$recur" train
expect 2 "relu on lstm" -- "$recur" train x --cell lstm --nonlinearity relu
expect 2 "steps and epochs" -- "$recur" train x --steps 5 --epochs 1
expect 2 "top-p out of range" -- "$recur" sample x --top-p 1.7
expect 2 "negative temperature" -- "$recur" sample x --temperature -1
expect 2 "eval needs two" -- "$recur" eval x
grep -q -- "--top-p" "$tmp/out" 2>/dev/null || true

# ---- help: exit 0, every option with its default
for c in train sample eval info hello gradcheck; do
    expect 0 "$c --help" -- "$recur" "$c" --help
    if ! grep -q "usage: recur $c" "$tmp/out"; then bad "$c --help has no usage line"; fi
done
expect 0 "recur --help" -- "$recur" --help
expect 0 "recur help train" -- "$recur" help train
if grep -q "(default: 5)" <("$recur" train --help | grep -- "--clip "); then ok; else bad "train --help does not show --clip's default 5"; fi

# ---- other errors: exit 1 with one line
expect 1 "missing text" -- "$recur" train "$tmp/nope.txt" --out "$tmp/m.safetensors"
expect 1 "directory as text" -- "$recur" train "$tmp" --out "$tmp/m.safetensors"
: >"$tmp/empty.txt"
expect 1 "empty text" -- "$recur" train "$tmp/empty.txt" --out "$tmp/m.safetensors"
printf 'abc\xff\xfedef' >"$tmp/bad.txt"
expect 1 "invalid utf-8" -- "$recur" train "$tmp/bad.txt" --out "$tmp/m.safetensors"
if grep -q "byte offset 3" "$tmp/err"; then ok; else bad "invalid UTF-8 message lacks the offset: $(cat "$tmp/err")"; fi
expect 1 "output in a missing directory" -- "$recur" train "$src/data/tinyshakespeare.txt" --out "$tmp/no/such/dir/m.safetensors"
expect 1 "missing checkpoint" -- "$recur" sample "$tmp/nope.safetensors"
echo "not a checkpoint at all" >"$tmp/junk.safetensors"
expect 1 "junk checkpoint" -- "$recur" info "$tmp/junk.safetensors"
head -c 3000 "$src/data/tinyshakespeare.txt" >"$tmp/short.txt"
expect 1 "text shorter than the streams" -- "$recur" train "$tmp/short.txt" --batch 64 --seq 100 --out "$tmp/m.safetensors"

# ---- hello: the founding example ends with the model saying 'ello'
expect 0 "hello" -- "$recur" hello
if tail -n 1 "$tmp/out" | grep -q 'ello$'; then ok; else bad "recur hello's last line does not end in ello: $(tail -n 1 "$tmp/out")"; fi

# ---- train -> info -> sample -> eval on a small text (with Korean and emoji: UTF-8)
{ head -c 20000 "$src/data/tinyshakespeare.txt"; printf '안녕하세요 😀\n'; } >"$tmp/text.txt"
expect 0 "train" -- "$recur" train "$tmp/text.txt" --hidden 32 --layers 1 --seq 16 --batch 8 --steps 30 \
    --eval-every 10 --out "$tmp/m.safetensors" --log "$tmp/log.jsonl" --threads 1
if [ -s "$tmp/m.safetensors" ] && [ -s "$tmp/m.last.safetensors" ]; then ok; else bad "train did not write both checkpoints"; fi
if [ "$(wc -l <"$tmp/log.jsonl")" = 30 ] && grep -q '"val_loss":[0-9]' "$tmp/log.jsonl" &&
    head -n 1 "$tmp/log.jsonl" | grep -q '"step":1,.*"train_loss":.*"lr":.*"grad_norm":.*"chars_per_s":'; then
    ok
else
    bad "log is not 30 JSON lines with step, losses, lr, grad_norm, chars_per_s"
fi
expect 0 "info" -- "$recur" info "$tmp/m.safetensors"
if grep -q "^cell *rnn" "$tmp/out" && grep -q "^steps *30" "$tmp/out" && grep -q "^parameters" "$tmp/out"; then ok; else bad "info output: $(cat "$tmp/out")"; fi
expect 0 "sample" -- "$recur" sample "$tmp/m.safetensors" --length 100 --seed 7 --prime "The "
cp "$tmp/out" "$tmp/s1"
"$recur" sample "$tmp/m.safetensors" --length 100 --seed 7 --prime "The " >"$tmp/s2"
"$recur" sample "$tmp/m.safetensors" --length 100 --seed 8 --prime "The " >"$tmp/s3"
if cmp -s "$tmp/s1" "$tmp/s2"; then ok; else bad "sample with the same seed differs"; fi
if ! cmp -s "$tmp/s1" "$tmp/s3"; then ok; else bad "sample with another seed is identical"; fi
expect 0 "greedy" -- "$recur" sample "$tmp/m.safetensors" --length 20 --temperature 0 --prime "안"
expect 0 "tiny temperature" -- "$recur" sample "$tmp/m.safetensors" --length 20 --temperature 1e-9
expect 0 "length 0" -- "$recur" sample "$tmp/m.safetensors" --length 0 --prime "The"
expect 1 "prime outside vocabulary" -- "$recur" sample "$tmp/m.safetensors" --prime "The {"
if grep -q "'{'" "$tmp/err"; then ok; else bad "prime error does not name the character: $(cat "$tmp/err")"; fi
expect 0 "eval" -- "$recur" eval "$tmp/m.safetensors" "$tmp/text.txt" --json
if grep -Eq '^\{"chars":[0-9]+,"nats_per_char":[0-9.e+-]+,"bits_per_char":[0-9.e+-]+' "$tmp/out"; then ok; else bad "eval --json: $(cat "$tmp/out")"; fi
printf 'The {zebra}' >"$tmp/unk.txt"
expect 1 "eval unknown character" -- "$recur" eval "$tmp/m.safetensors" "$tmp/unk.txt"
expect 0 "eval skip unknown" -- "$recur" eval "$tmp/m.safetensors" "$tmp/unk.txt" --skip-unknown --json
if grep -q '"skipped":2' "$tmp/out"; then ok; else bad "skip-unknown count: $(cat "$tmp/out")"; fi

# ---- resume: continue the saved state for 10 more steps
expect 0 "resume" -- "$recur" train "$tmp/text.txt" --hidden 32 --layers 1 --seq 16 --batch 8 --steps 40 \
    --eval-every 10 --resume "$tmp/m.last.safetensors" --out "$tmp/m2.safetensors" --threads 1
if "$recur" info "$tmp/m2.safetensors" | grep -q "^steps *40"; then ok; else bad "resumed model did not reach step 40"; fi
expect 1 "resume with another cell" -- "$recur" train "$tmp/text.txt" --cell gru --steps 40 \
    --resume "$tmp/m.last.safetensors" --out "$tmp/m3.safetensors"
# --resume with the model file (the path given to --out) finds the state beside it ...
expect 0 "resume from the model file" -- "$recur" train "$tmp/text.txt" --hidden 32 --layers 1 \
    --seq 16 --batch 8 --steps 40 --eval-every 10 --resume "$tmp/m.safetensors" --out "$tmp/m4.safetensors" --threads 1
if cmp -s "$tmp/m2.safetensors" "$tmp/m4.safetensors"; then ok; else bad "resuming from the model file gave another model than from its state"; fi
# ... and says so when there is none.
cp "$tmp/m.safetensors" "$tmp/alone.safetensors"
expect 1 "resume from a model without state" -- "$recur" train "$tmp/text.txt" --hidden 32 --layers 1 \
    --seq 16 --batch 8 --steps 40 --resume "$tmp/alone.safetensors" --out "$tmp/m3.safetensors"
if grep -q "alone.last.safetensors does not exist" "$tmp/err"; then ok; else bad "no word of the missing state file: $(cat "$tmp/err")"; fi

# ---- gradcheck as a command
expect 0 "gradcheck lstm" -- "$recur" gradcheck --cell lstm
if grep -q "rnn.weight_hh_l1" "$tmp/out"; then ok; else bad "gradcheck does not list every tensor"; fi

finish
