#!/usr/bin/env bash
# cli_hardening.sh - issue #17 at the command line:
#  - every command that writes to standard output exits 1 with one line on
#    stderr when it cannot (> /dev/full), instead of 0;
#  - every command that runs a model refuses one of another kind, naming it
#    (the library's one kind check; tests/test_kinds.c covers the API);
#  - `recur info` shows task, outputs and directions;
#  - a failing gradcheck says so on stderr.
# usage: cli_hardening.sh RECUR_BINARY SOURCE_DIR
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# full DESCRIPTION -- COMMAND...: COMMAND's stdout is /dev/full; it must exit
# 1 with exactly one "recur ..." line on stderr saying it cannot write.
full() {
    local what=$1
    shift 2
    "$@" <"${full_stdin:-/dev/null}" >/dev/full 2>"$tmp/err"
    local got=$?
    if [ "$got" != 1 ]; then
        bad "$what > /dev/full: exit $got, expected 1 ($(head -c 200 "$tmp/err"))"
    elif [ "$(wc -l <"$tmp/err")" != 1 ] || ! grep -Eq '^recur.*(cannot write|writing stdout)' "$tmp/err"; then
        bad "$what > /dev/full: expected one 'recur ... cannot write' line, got: $(head -c 400 "$tmp/err")"
    else
        ok
    fi
}

# ---- tiny models of every kind (a few steps each: their quality is not the point)
head -c 3000 "$src/data/tinyshakespeare.txt" >"$tmp/t.txt"
expect 0 "train lm" -- "$recur" train "$tmp/t.txt" --hidden 8 --layers 1 --steps 3 --seq 8 --batch 2 \
    --out "$tmp/lm.st" --quiet --threads 1
for i in $(seq 1 20); do printf 'A\tx%dab\nB\ty%dba\n' "$i" "$i"; done >"$tmp/c.tsv"
expect 0 "classify train" -- "$recur" classify train "$tmp/c.tsv" --hidden 8 --embed 4 --steps 3 \
    --out "$tmp/c.st" --quiet --threads 1
for i in $(seq 1 20); do printf 'the\tW\n%d\tN\n\n' "$i"; done >"$tmp/tag.tsv"
expect 0 "tag train" -- "$recur" tag train "$tmp/tag.tsv" --hidden 8 --layers 1 --embed 4 --steps 3 \
    --out "$tmp/tag.st" --quiet --threads 1
"$recur" seq2seq generate reverse --n 40 --min 2 --max 3 --alphabet ab --seed 1 >"$tmp/rev.tsv"
expect 0 "seq2seq train" -- "$recur" seq2seq train "$tmp/rev.tsv" --out "$tmp/s.st" --hidden 8 --steps 3 \
    --batch 8 --threads 1 --quiet

# ---- write errors: each command against a full disk
full "--help" -- "$recur" --help
full "--version" -- "$recur" --version
full "help train" -- "$recur" help train
full "info" -- "$recur" info "$tmp/lm.st"
full "info --json" -- "$recur" info "$tmp/c.st" --json
full "info seq2seq" -- "$recur" info "$tmp/s.st"
full "eval" -- "$recur" eval "$tmp/lm.st" "$tmp/t.txt"
full "eval --json" -- "$recur" eval "$tmp/lm.st" "$tmp/t.txt" --json
full "sample" -- "$recur" sample "$tmp/lm.st" --length 20
full "sample (long)" -- "$recur" sample "$tmp/lm.st" --length 100000
full "classify predict" -- "$recur" classify predict "$tmp/c.st" x1ab y2ba
printf 'the 7\n' >"$tmp/tokens"
full_stdin=$tmp/tokens full "tag predict" -- "$recur" tag predict "$tmp/tag.st"
full "tag eval" -- "$recur" tag eval "$tmp/tag.st" "$tmp/tag.tsv"
printf 'ab\nba\n' >"$tmp/src.txt"
full_stdin=$tmp/src.txt full "seq2seq predict" -- "$recur" seq2seq predict "$tmp/s.st"
full "seq2seq eval" -- "$recur" seq2seq eval "$tmp/s.st" "$tmp/rev.tsv"
full "seq2seq generate" -- "$recur" seq2seq generate add --n 5
full "gradcheck" -- "$recur" gradcheck
# And a pipe closed early is not a success either (SIGPIPE ignored: EPIPE).
(trap '' PIPE; "$recur" info "$tmp/lm.st" 2>"$tmp/err" | true; echo "${PIPESTATUS[0]}" >"$tmp/st")
# (info's output fits the pipe's buffer, so the reader may close after the
# write: either outcome is honest, but exit 0 after EPIPE is not.)
if [ "$(cat "$tmp/st")" = 0 ] && grep -q . "$tmp/err"; then bad "info | closed pipe: exit 0 with $(cat "$tmp/err")"; else ok; fi

# ---- a model of the wrong kind, refused by every command that runs one
expect 1 "c.st: recur_eval_text (recur eval) takes a language model; this is a bidirectional classify model" "eval a classifier" -- \
    "$recur" eval "$tmp/c.st" "$tmp/t.txt"
expect 1 "is a tag model" "sample a tagger" -- "$recur" sample "$tmp/tag.st" --length 5
expect 1 "is a lm model, not a classifier" "classify predict an lm" -- \
    "$recur" classify predict "$tmp/lm.st" x1ab
expect_stdin=$tmp/tokens expect 1 "is a classify model" "tag predict a classifier" -- \
    "$recur" tag predict "$tmp/c.st"
expect 1 "takes a tag model; this is a language model" "tag eval an lm" -- \
    "$recur" tag eval "$tmp/lm.st" "$tmp/tag.tsv"
expect_stdin=$tmp/src.txt expect 1 "seq2seq predict an lm" -- "$recur" seq2seq predict "$tmp/lm.st"
expect 1 "seq2seq eval a classifier" -- "$recur" seq2seq eval "$tmp/c.st" "$tmp/rev.tsv"

# ---- recur info names the kind
expect 0 "info classify" -- "$recur" info "$tmp/c.st"
grep -q '^task  *classify (2 labels)' "$tmp/out" && grep -q '^outputs  *2' "$tmp/out" &&
    grep -q '^directions  *2 (bidirectional)' "$tmp/out" && ok || bad "info classify: $(cat "$tmp/out")"
expect 0 "info lm --json" -- "$recur" info "$tmp/lm.st" --json
grep -q '"task":"lm".*"outputs":[0-9]*,"directions":1,"cond":0' "$tmp/out" && ok || bad "info --json: $(cat "$tmp/out")"

# ---- a failing gradcheck says why on stderr
expect 1 "exceed the tolerance" "gradcheck --tolerance 0" -- "$recur" gradcheck --tolerance 0
finish
