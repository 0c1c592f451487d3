#!/usr/bin/env bash
# cli_resume.sh - every train command continues a stopped run bit for bit.
# For each task (language model, classification, tagging, generation by
# class, sequence-to-sequence) a run is stopped
#   - by --steps at two points, then resumed to the end (once from the state
#     file, once from the model file given to --out),
#   - by SIGINT at three moments (wherever it lands), then resumed,
#   - by SIGKILL while it saves its state at every step (--save-every 1),
#     then resumed from whatever state file is on disk,
# and each time the final model file (and state file) must be byte for byte
# those of the run that was never stopped. The schedule's and the skipped
# steps' numbers are in the state too: the language model also runs with a
# cosine schedule and warm-up, the classifier on a plateau schedule with
# weight decay; input, output and variational dropout run with the language
# model with a tied head (drops), output dropout with classify and seq2seq.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "${RECUR_VALGRIND:-}" ]; then
    echo "skipped under valgrind: about 150 training runs (the plain and ASan passes run it)"
    exit 77
fi

# ---- data: small enough that a run takes about a second
head -c 60000 "$src/data/tinyshakespeare.txt" >"$tmp/text.txt"
for f in "$src"/data/names/{English,French,German,Italian,Russian,Japanese}.txt; do
    label=$(basename "$f" .txt)
    head -n 150 "$f" | sed "s/^/$label\t/"
done >"$tmp/names.tsv"
awk 'BEGIN{n=0} {print} /^$/{n++; if (n==300) exit}' "$src/data/ud_english_ewt/train.tsv" >"$tmp/tag.tsv"
"$recur" seq2seq generate reverse --n 800 --seed 3 >"$tmp/pairs.tsv" || bad "generate pairs"

# task NAME: sets cmd (the command, without --steps/--out/--resume) and steps
task() {
    case $1 in
    lm) cmd=("$recur" train "$tmp/text.txt" --cell lstm --hidden 64 --layers 2 --dropout 0.1 --seq 32 --batch 8
            --eval-every 10 --lr-decay 0.8 --lr-decay-every 15 --threads 2 --quiet) ;;
    drops) cmd=("$recur" train "$tmp/text.txt" --cell lstm --hidden 32 --layers 2 --embed 32 --tie --dropout 0.2
            --dropout-in 0.1 --dropout-out 0.2 --variational --seq 32 --batch 8 --eval-every 10 --threads 2 --quiet) ;;
    cosine) cmd=("$recur" train "$tmp/text.txt" --cell gru --hidden 48 --seq 32 --batch 8 --eval-every 10
            --schedule cosine --warmup 12 --lr-min 1e-4 --sample-every 0 --threads 2 --quiet) ;;
    classify) cmd=("$recur" classify train "$tmp/names.tsv" --hidden 48 --batch 16 --eval-every 10 --dropout 0.1
            --dropout-out 0.2 --variational            --layers 2 --schedule plateau --patience 1 --weight-decay 0.01 --threads 2 --quiet) ;;
    tag) cmd=("$recur" tag train "$tmp/tag.tsv" --hidden 32 --batch 8 --eval-every 10 --threads 2 --quiet) ;;
    condlm) cmd=("$recur" train "$tmp/names.tsv" --by-class --hidden 48 --batch 16 --eval-every 10 --threads 2 --quiet) ;;
    seq2seq) cmd=("$recur" seq2seq train "$tmp/pairs.tsv" --hidden 48 --attention --batch 16 --eval-every 10
            --dropout-out 0.1            --lr-decay-every 20 --threads 2 --quiet) ;;
    esac
    steps=80
}

# started LOG PID: waits until the run has taken a step (its log has a line):
# a shell's background jobs ignore SIGINT until recur installs its handler,
# so a signal sent earlier would be lost, not tested.
started() {
    for _ in $(seq 1 600); do
        [ -s "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || return 0
        sleep 0.01
    done
}

same() { # WHAT A B
    if cmp -s "$2" "$3"; then ok; else bad "$1: $2 and $3 differ"; fi
}

for name in lm drops cosine classify tag condlm seq2seq; do
    task "$name"
    d="$tmp/$name"
    mkdir -p "$d"
    # The run that is never stopped.
    "${cmd[@]}" --steps $steps --out "$d/ref.safetensors" >/dev/null 2>"$d/ref.err" ||
        { bad "$name: uninterrupted run failed: $(cat "$d/ref.err")"; continue; }

    # Stopped by --steps at a validation step (every run validates at its
    # last step, so a stop between two validations is another run: it
    # validates where the long run does not), resumed to the end. (Not for
    # cosine: its rate depends on the run's total steps.)
    [ "$name" = cosine ] || for k in 20 40; do
        "${cmd[@]}" --steps $k --out "$d/s$k.safetensors" >/dev/null 2>&1 || bad "$name: run to step $k failed"
        "${cmd[@]}" --steps $steps --out "$d/s$k.safetensors" --resume "$d/s$k.last.safetensors" \
            >/dev/null 2>"$d/s$k.err" || bad "$name: resume at $k failed: $(cat "$d/s$k.err")"
        same "$name: stopped by --steps at $k" "$d/ref.safetensors" "$d/s$k.safetensors"
        same "$name: state, stopped by --steps at $k" "$d/ref.last.safetensors" "$d/s$k.last.safetensors"
    done
    # Resumed into another --out: the best model so far comes along (the
    # model file beside the state is copied there), so the end is the same.
    [ "$name" = cosine ] || {
        "${cmd[@]}" --steps 20 --out "$d/o1.safetensors" >/dev/null 2>&1
        "${cmd[@]}" --steps $steps --out "$d/o2.safetensors" --resume "$d/o1.last.safetensors" >/dev/null 2>&1 ||
            bad "$name: resume into another --out failed"
        same "$name: resumed into another --out" "$d/ref.safetensors" "$d/o2.safetensors"
    }
    # --resume with the model file finds its state beside it.
    [ "$name" = cosine ] || {
    "${cmd[@]}" --steps 20 --out "$d/m.safetensors" >/dev/null 2>&1
    "${cmd[@]}" --steps $steps --out "$d/m.safetensors" --resume "$d/m.safetensors" >/dev/null 2>&1 ||
        bad "$name: resume from the model file failed"
    same "$name: resumed from the model file" "$d/ref.safetensors" "$d/m.safetensors"
    same "$name: state, resumed from the model file" "$d/ref.last.safetensors" "$d/m.last.safetensors"
    }

    # Stopped by SIGINT wherever it lands.
    landed=0
    for wait in 0 0.05 0.15; do
        out="$d/int$wait.safetensors"
        rm -f "$d/int.jsonl"
        "${cmd[@]}" --steps $steps --out "$out" --log "$d/int.jsonl" >/dev/null 2>"$d/int.err" &
        pid=$!
        started "$d/int.jsonl" $pid
        sleep "$wait"
        kill -INT $pid 2>/dev/null
        wait $pid
        rc=$?
        if [ "$rc" = 130 ]; then
            landed=$((landed + 1))
            grep -q "resume with: recur" "$d/int.err" || bad "$name: no resume command after Ctrl-C: $(cat "$d/int.err")"
            "${cmd[@]}" --steps $steps --out "$out" --resume "${out%.safetensors}.last.safetensors" >/dev/null 2>&1 ||
                bad "$name: resume after SIGINT failed"
        elif [ "$rc" != 0 ]; then
            bad "$name: SIGINT gave exit $rc: $(cat "$d/int.err")"
        fi
        same "$name: stopped by SIGINT after ${wait}s (exit $rc)" "$d/ref.safetensors" "$out"
        same "$name: state, stopped by SIGINT after ${wait}s" "$d/ref.last.safetensors" "${out%.safetensors}.last.safetensors"
    done

    echo "$name: SIGINT landed during training in $landed of 3 runs (the others had finished)"
    [ "$landed" -gt 0 ] || bad "$name: no SIGINT landed during training (runs too fast to test the interruption)"

    # SIGKILL while the state is saved at every step: whatever is on disk loads and resumes.
    out="$d/kill.safetensors"
    "${cmd[@]}" --steps $steps --save-every 1 --out "$out" --log "$d/kill.jsonl" >/dev/null 2>&1 &
    pid=$!
    started "$d/kill.jsonl" $pid
    sleep 0.1
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    if [ -f "${out%.safetensors}.last.safetensors" ]; then
        "${cmd[@]}" --steps $steps --save-every 1 --out "$out" --resume "${out%.safetensors}.last.safetensors" \
            >/dev/null 2>"$d/kill.err" || bad "$name: resume after SIGKILL failed: $(cat "$d/kill.err")"
    else # killed before its first save: start again
        "${cmd[@]}" --steps $steps --save-every 1 --out "$out" >/dev/null 2>&1
    fi
    same "$name: killed with SIGKILL" "$d/ref.safetensors" "$out"
    ls "$d"/*.tmp.* >/dev/null 2>&1 && bad "$name: temporary files left after SIGKILL and resume: $(ls "$d"/*.tmp.*)"
done

# The deepest model the flags allow (64 LSTM layers: 129 tensors of state
# beside the model's) saves and resumes too.
deep=("$recur" train "$tmp/text.txt" --cell lstm --layers 64 --hidden 2 --seq 4 --batch 2 --val-frac 0
      --sample-every 0 --threads 1 --quiet)
if "${deep[@]}" --steps 4 --out "$tmp/deep.safetensors" &&
    "${deep[@]}" --steps 2 --out "$tmp/deep2.safetensors" &&
    "${deep[@]}" --steps 4 --out "$tmp/deep2.safetensors" --resume "$tmp/deep2.last.safetensors"; then
    same "64-layer LSTM, state" "$tmp/deep.last.safetensors" "$tmp/deep2.last.safetensors"
else
    bad "64-layer LSTM: a run or its resume failed"
fi

# A state of one task is refused by another, with one line naming both.
expect 1 "state of a classify model" "resume a classifier's state as a tagger" -- "$recur" tag train "$tmp/tag.tsv" \
    --hidden 32 --steps 30 --out "$tmp/x.safetensors" --resume "$tmp/classify/ref.last.safetensors"
expect 1 "seq2seq" "resume a seq2seq state as a language model" -- "$recur" train "$tmp/text.txt" \
    --steps 30 --out "$tmp/y.safetensors" --resume "$tmp/seq2seq/ref.last.safetensors"
# Another schedule or dropout than the state's: refused.
expect 1 "trained with --schedule cosine" "resume a cosine run with another schedule" -- "$recur" train "$tmp/text.txt" --cell gru \
    --hidden 48 --seq 32 --batch 8 --steps 90 --out "$tmp/w.safetensors" --resume "$tmp/cosine/ref.last.safetensors"
expect 1 "--dropout" "resume a classifier with another dropout" -- "$recur" classify train "$tmp/names.tsv" --hidden 48 \
    --batch 16 --layers 2 --dropout 0.3 --schedule plateau --steps 90 --out "$tmp/v.safetensors" \
    --resume "$tmp/classify/ref.last.safetensors"
expect 1 "--variational 1, not 0" "resume a variational classifier without it" -- "$recur" classify train "$tmp/names.tsv" \
    --hidden 48 --batch 16 --layers 2 --dropout 0.1 --dropout-out 0.2 --schedule plateau --steps 90 \
    --out "$tmp/v.safetensors" --resume "$tmp/classify/ref.last.safetensors"
expect 1 "--dropout-out" "resume a language model with another output dropout" -- "$recur" train "$tmp/text.txt" \
    --dropout-out 0.5 --steps 90 --out "$tmp/u.safetensors" --resume "$tmp/drops/ref.last.safetensors"
# A state beside a model file that is not its own (another tie, another
# dropout): refused before anything is copied (a tied state is smaller than
# the untied model it would fill: a review found the copy read past it).
P=(train "$tmp/text.txt" --cell lstm --hidden 16 --embed 16 --seq 8 --batch 2 --steps 4 --threads 1 --quiet)
"$recur" "${P[@]}" --out "$tmp/untied.safetensors" && "$recur" "${P[@]}" --tie --out "$tmp/tied.safetensors" &&
    "$recur" "${P[@]}" --dropout-out 0.3 --out "$tmp/dout.safetensors" || bad "tie/dropout pair runs failed"
cp "$tmp/tied.last.safetensors" "$tmp/untied.last.safetensors"
expect 1 "resume an untied model from a tied state" -- "$recur" train "$tmp/text.txt" --seq 8 --batch 2 \
    --steps 8 --threads 1 --out "$tmp/u2.safetensors" --resume "$tmp/untied.safetensors"
cp "$tmp/dout.last.safetensors" "$tmp/tied.last.safetensors"
expect 1 "resume a tied model from an untied state" -- "$recur" train "$tmp/text.txt" --seq 8 --batch 2 \
    --steps 8 --threads 1 --out "$tmp/t2.safetensors" --resume "$tmp/tied.safetensors"
cp "$tmp/untied.safetensors" "$tmp/nodrop.safetensors" && cp "$tmp/dout.last.safetensors" "$tmp/nodrop.last.safetensors"
expect 1 "--dropout-out" "resume a model from a state with another output dropout" -- "$recur" train "$tmp/text.txt" \
    --seq 8 --batch 2 --steps 8 --threads 1 --out "$tmp/n2.safetensors" --resume "$tmp/nodrop.safetensors"
# Other data than the state's: refused, nothing taken.
head -n 400 "$tmp/names.tsv" >"$tmp/fewer.tsv"
expect 1 "resume on other data" -- "$recur" classify train "$tmp/fewer.tsv" --hidden 48 --batch 16 --layers 2 \
    --steps 90 --out "$tmp/z.safetensors" --resume "$tmp/classify/ref.last.safetensors"

finish
