#!/usr/bin/env bash
# cli_train_flags.sh - every train command takes the flags every train
# command shares, with the same help text (defaults may differ), and the
# same checks of them; and --log writes the same keys, plus the task's
# metric, for every task. (seq2seq train alone requires --out, as it always has.)
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
shared="out last resume save-every log steps epochs eval-every optim lr schedule lr-decay lr-decay-every
warmup lr-min patience weight-decay clip clip-mode momentum seed threads bf16 print-every quiet"
cmds=("train" "train --by-class" "classify train" "tag train" "seq2seq train")
help_of() { # CMD FLAG: the flag's help line without its default
    # shellcheck disable=SC2086
    "$recur" $1 --help | grep -E "^  --$2( |$)" | sed 's/ (default[^)]*)$//; s/ (required)$//'
}
for flag in $shared; do
    ref=$(help_of "train" "$flag")
    [ -n "$ref" ] || { bad "recur train --help lacks --$flag"; continue; }
    for c in "${cmds[@]:1}"; do
        got=$(help_of "$c" "$flag")
        if [ "$got" = "$ref" ]; then ok; else bad "recur $c --$flag: '${got:-missing}' is not recur train's '$ref'"; fi
    done
done

# The same checks everywhere.
for c in "${cmds[@]}"; do
    # shellcheck disable=SC2086
    expect 2 "--schedule" "recur $c: bad --schedule" -- "$recur" $c data --schedule linear
    # shellcheck disable=SC2086
    expect 2 "--steps or --epochs" "recur $c: --steps and --epochs" -- "$recur" $c data --steps 3 --epochs 2
    # shellcheck disable=SC2086
    expect 2 "--lr-min" "recur $c: --lr-min without cosine" -- "$recur" $c data --lr-min 0.1
done

# --log: the same keys for every task, the task's metric beside val_loss.
printf 'A\tabc\nA\tbca\nA\tcab\nA\tacb\nB\txyz\nB\tyzx\nB\tzxy\nB\txzy\n' >"$tmp/c.tsv"
printf 'the\tDET\ncat\tNOUN\n\na\tDET\ndog\tNOUN\n\nthe\tDET\ndog\tNOUN\n\na\tDET\ncat\tNOUN\n\n' >"$tmp/t.tsv"
"$recur" seq2seq generate reverse --n 60 >"$tmp/p.tsv"
head -c 4000 "$src/data/tinyshakespeare.txt" >"$tmp/x.txt"
keys='"step","epoch","train_loss","val_loss","lr","grad_norm","chars_per_s","elapsed_s"'
check_log() { # NAME METRIC(or -) LOG
    local first
    first=$(grep '"val_loss":[0-9]' "$3" | head -1)
    [ -n "$first" ] || { bad "$1: no validation in the log"; return; }
    got=$(printf '%s' "$first" | grep -o '"[a-z_]*":' | tr -d ':' | grep -v '"val_accuracy"\|"val_exact_match"' | paste -sd, -)
    if [ "$got" = "$keys" ]; then ok; else bad "$1: log keys $got"; fi
    if [ "$2" = - ]; then
        if printf '%s' "$first" | grep -q '"val_accuracy"\|"val_exact_match"'; then
            bad "$1: a metric where there is none: $first"
        else ok; fi
    elif printf '%s' "$first" | grep -q "\"val_$2\":[0-9.]*,"; then ok; else bad "$1: no val_$2 in $first"; fi
}
q=(--steps 6 --eval-every 3 --threads 1 --quiet --hidden 8)
"$recur" train "$tmp/x.txt" "${q[@]}" --seq 8 --batch 2 --out "$tmp/a.safetensors" --log "$tmp/a.jsonl" && check_log lm - "$tmp/a.jsonl"
"$recur" classify train "$tmp/c.tsv" "${q[@]}" --batch 2 --val-frac 0.25 --out "$tmp/b.safetensors" --log "$tmp/b.jsonl" >/dev/null &&
    check_log classify accuracy "$tmp/b.jsonl"
"$recur" tag train "$tmp/t.tsv" "${q[@]}" --batch 1 --val-frac 0.25 --out "$tmp/c.safetensors" --log "$tmp/c.jsonl" >/dev/null &&
    check_log tag accuracy "$tmp/c.jsonl"
"$recur" train "$tmp/c.tsv" --by-class "${q[@]}" --batch 2 --val-frac 0.25 --out "$tmp/d.safetensors" --log "$tmp/d.jsonl" &&
    check_log condlm accuracy "$tmp/d.jsonl"
"$recur" seq2seq train "$tmp/p.tsv" "${q[@]}" --batch 4 --out "$tmp/e.safetensors" --log "$tmp/e.jsonl" &&
    check_log seq2seq exact_match "$tmp/e.jsonl"
# A log that cannot be written stops the run with one line and a non-zero exit.
if [ -w /dev/full ]; then
    expect 1 "cannot write the log" "train --log /dev/full" -- "$recur" train "$tmp/x.txt" "${q[@]}" --seq 8 --batch 2 \
        --out "$tmp/f.safetensors" --log /dev/full
    expect 1 "cannot write the log" "classify train --log /dev/full" -- "$recur" classify train "$tmp/c.tsv" "${q[@]}" \
        --batch 2 --out "$tmp/g.safetensors" --log /dev/full
fi
finish
