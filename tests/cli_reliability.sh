#!/usr/bin/env bash
# cli_reliability.sh - the promises of docs/reliability.md, tested on the real
# recur process:
#   1. SIGINT / SIGTERM to a running `recur train`: exit 130, a resumable state,
#      a message saying where it is and how to resume; the resumed run ends
#      with the uninterrupted run's files (best model and state) byte for byte
#      and the same per-step log (timing fields aside). SIGKILL at a random
#      moment, then resuming from the last --save-every state: the same. Two
#      SIGINTs in a row: exit 130 at once, nothing on disk corrupt.
#   2. kill -9 of a writer (--save-every 1, a validation and a best model at
#      every step) at random moments, 30 times: after each kill every
#      checkpoint on disk loads and resumes; at most the killed process's own
#      PATH.tmp.PID is left, and the next run removes it.
#   3. NaN/Inf: a forced blow-up skips steps halving the learning rate, then
#      stops with exit 1 and a clear message; no best model with a non-finite
#      validation loss or weight is ever written.
#   4. A table of bad inputs, each with its exit status and one-line message:
#      short, binary, invalid UTF-8 and 2 GB (sparse) texts (trained on with
#      peak RSS under 256 MB), foreign or broken
#      --resume states, prime text, sizes, temperatures, --length 0, output
#      paths that cannot be written, a checkpoint whose header would need
#      gigabytes to parse.
# Under valgrind (RECUR_VALGRIND=1; RECUR_BINARY is a valgrind wrapper) the
# process-kill and 2 GB parts are skipped with a SKIP line; the rest runs.
# usage: cli_reliability.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# On exit (tests/lib.sh's trap), also runs of ours still going (a failed check
# left one behind): this shell's own background jobs, by PID.
cleanup() {
    local p
    for p in $(jobs -p); do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
skip() { echo "SKIP $*"; }
valgrind=0
if [ -n "${RECUR_VALGRIND:-}" ] && [ "${RECUR_VALGRIND}" != 0 ]; then valgrind=1; fi

# Checks below use tests/lib.sh's expect in its FRAGMENT form:
# expect CODE FRAGMENT DESCRIPTION -- COMMAND... (FRAGMENT "" for none).

# The log without its timing fields, which differ from run to run.
strip_log() { sed -E 's/,"chars_per_s":[^,}]*//; s/,"elapsed_s":[^,}]*//' "$1"; }
# The log lines after step $2.
log_after() { strip_log "$1" | awk -F'[:,]' -v s="$2" '$2 + 0 > s'; }
state_step() { "$recur" info "$1" --json | sed -E 's/.*"steps":([0-9]+).*/\1/'; }
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# Waits until file $1 has at least $2 lines while process $3 runs; 1 if the
# process ended first.
wait_lines() {
    local n=0
    while [ "$(lines "$1")" -lt "$2" ]; do
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.01
        n=$((n + 1))
        [ $n -lt 6000 ] || return 1
    done
}

text=$tmp/text.txt
head -c 150000 "$src/data/tinyshakespeare.txt" >"$text"

# ------------------------------------------------------------ 1. signals
# A run long enough to be interrupted, with everything a state must restore:
# dropout (its generator), Adam moments, carried LSTM state, validation and a
# best model, progress samples, periodic saves.
O=(--cell lstm --hidden 96 --layers 2 --dropout 0.1 --seq 24 --batch 8 --steps 120
    --eval-every 10 --val-frac 0.1 --val-max-chars 1500 --sample-every 25 --sample-len 20
    --save-every 10 --seed 5 --threads 1 --print-every 1000)

# interrupt NAME SIGNAL MIN_LINES: starts a run, waits until its log has
# MIN_LINES (+ a random few) lines, sends SIGNAL; leaves the exit status in $rc.
interrupt() {
    local name=$1 sig=$2 min=$3
    "$recur" train "$text" "${O[@]}" --out "$tmp/$name.safetensors" --log "$tmp/$name.log" \
        >"$tmp/$name.out" 2>"$tmp/$name.err" &
    local pid=$!
    if ! wait_lines "$tmp/$name.log" $((min + RANDOM % 30)) "$pid"; then
        wait "$pid"
        rc=$?
        bad "$name: the run ended (exit $rc) before it could be interrupted: $(tail -n 2 "$tmp/$name.err")"
        return 1
    fi
    if [ "$sig" = INT2 ]; then
        kill -INT "$pid"
        kill -INT "$pid"
    else
        kill "-$sig" "$pid"
    fi
    wait "$pid" 2>/dev/null
    rc=$?
}

# same_as_reference NAME: NAME's final best model and state are the reference's.
same_as_reference() {
    if cmp -s "$tmp/ref.safetensors" "$tmp/$1.safetensors"; then ok; else bad "$1: the resumed run's best model differs from the uninterrupted run's"; fi
    if cmp -s "$tmp/ref.last.safetensors" "$tmp/$1.last.safetensors"; then ok; else bad "$1: the resumed run's final state differs from the uninterrupted run's"; fi
}

if [ $valgrind = 1 ]; then
    skip "signals (SIGINT, SIGTERM, SIGKILL and resume) under valgrind: too slow to interrupt meaningfully; run in the plain and sanitizer builds"
else
    expect 0 "" "uninterrupted reference run" -- "$recur" train "$text" "${O[@]}" \
        --out "$tmp/ref.safetensors" --log "$tmp/ref.log" --quiet
    if [ "$(lines "$tmp/ref.log")" = 120 ]; then ok; else bad "reference log has $(lines "$tmp/ref.log") lines, expected 120"; fi

    for sig in INT TERM; do
        name=sig$sig
        interrupt "$name" "$sig" 15 || continue
        if [ "$rc" = 130 ]; then ok; else bad "SIG$sig: exit $rc, expected 130"; fi
        k=$(state_step "$tmp/$name.last.safetensors")
        if [ -n "$k" ] && [ "$k" -gt 0 ] && [ "$k" -lt 120 ]; then ok; else bad "SIG$sig: the state's step is '$k'"; fi
        if grep -qF "recur train: interrupted at step $k of 120; state saved to $tmp/$name.last.safetensors" "$tmp/$name.err" &&
            grep -qF "resume with: recur train $text [same options] --resume $tmp/$name.last.safetensors --out $tmp/$name.safetensors" "$tmp/$name.err"; then
            ok
        else
            bad "SIG$sig: no 'interrupted at step $k ... resume with' message: $(tail -n 3 "$tmp/$name.err")"
        fi
        expect 0 "" "resume after SIG$sig at step $k" -- "$recur" train "$text" "${O[@]}" \
            --resume "$tmp/$name.last.safetensors" --out "$tmp/$name.safetensors" --log "$tmp/$name.log" --quiet
        same_as_reference "$name"
        # --log appends on resume: the whole log is the reference's.
        if diff <(strip_log "$tmp/ref.log") <(strip_log "$tmp/$name.log") >/dev/null; then ok; else bad "SIG$sig: the per-step log (interrupted + resumed) differs from the uninterrupted run's"; fi
        echo "SIG$sig at step $k of 120: exit 130, resumed: best model, state and log identical to the uninterrupted run"
    done

    # The resume hint pastes back into a shell: paths with a space and a quote.
    name="it's here"
    if interrupt "$name" INT 15; then
        hint=$(sed -n 's/^  resume with: //p' "$tmp/$name.err")
        case $hint in
        *"'"*"\\''"*) ok ;;
        *) bad "the resume hint does not quote the path: $hint" ;;
        esac
        hint=${hint/\[same options\]/${O[*]}}
        hint=${hint#recur }
        if (eval "\"\$recur\" $hint --log \"\$tmp/\$name.log\" --quiet") >/dev/null 2>&1; then ok; else bad "the printed resume command failed: $hint"; fi
        same_as_reference "$name"
    fi

    # SIGKILL: no handler runs; resume from the last periodic state.
    if interrupt kill KILL 35; then
        if [ "$rc" = 137 ]; then ok; else bad "SIGKILL: exit $rc, expected 137"; fi
        s=$(state_step "$tmp/kill.last.safetensors")
        killed_at=$(lines "$tmp/kill.log")
        if [ -n "$s" ] && [ $((s % 10)) = 0 ] && [ "$s" -ge 30 ]; then ok; else bad "SIGKILL: the state on disk is at step '$s', expected a multiple of 10 >= 30"; fi
        expect 0 "" "resume after SIGKILL" -- "$recur" train "$text" "${O[@]}" \
            --resume "$tmp/kill.last.safetensors" --out "$tmp/kill.safetensors" --log "$tmp/kill2.log" --quiet
        same_as_reference kill
        if diff <(log_after "$tmp/ref.log" "$s") <(strip_log "$tmp/kill2.log") >/dev/null; then ok; else bad "SIGKILL: the resumed log differs from the reference after step $s"; fi
        if ls "$tmp"/kill*.tmp.* >/dev/null 2>&1; then bad "SIGKILL: temporary files remain after the resumed run: $(ls "$tmp"/kill*.tmp.*)"; else ok; fi
        echo "SIGKILL after ~$killed_at steps: resumed from the periodic state at step $s: best model, state and log identical"
    fi

    # Two SIGINTs at once: the second exits immediately; whatever is on disk
    # loads, and resuming from it still ends identical.
    if interrupt int2 INT2 25; then
        if [ "$rc" = 130 ]; then ok; else bad "double SIGINT: exit $rc, expected 130"; fi
        for f in "$tmp"/int2*.safetensors; do
            if "$recur" info "$f" >/dev/null 2>&1; then ok; else bad "double SIGINT: $f does not load"; fi
        done
        s=$(state_step "$tmp/int2.last.safetensors")
        expect 0 "" "resume after a double SIGINT" -- "$recur" train "$text" "${O[@]}" \
            --resume "$tmp/int2.last.safetensors" --out "$tmp/int2.safetensors" --log "$tmp/int2b.log" --quiet
        same_as_reference int2
        if diff <(log_after "$tmp/ref.log" "$s") <(strip_log "$tmp/int2b.log") >/dev/null; then ok; else bad "double SIGINT: the resumed log differs after step $s"; fi
        echo "double SIGINT: exit 130, state at step $s loads, resumed run identical"
    fi
fi

# ------------------------------------------------------------ 2. kill -9 a writer, 30 times
kd=$tmp/kill9
mkdir -p "$kd"
head -c 20000 "$src/data/tinyshakespeare.txt" >"$kd/text.txt"
# ~2.3 MB written and fsynced per step (state and best model), so that most
# kills land during a write.
K=(--hidden 200 --layers 2 --seq 8 --batch 4 --steps 100000 --eval-every 1 --val-frac 0.05
    --val-max-chars 64 --save-every 1 --sample-every 0 --threads 1 --quiet)
if [ $valgrind = 1 ]; then
    skip "kill -9 loop under valgrind (needs real timing); run in the plain and sanitizer builds"
else
    kills=0
    midwrite=0
    for i in $(seq 1 30); do
        resume=()
        [ -f "$kd/m.last.safetensors" ] && resume=(--resume "$kd/m.last.safetensors")
        "$recur" train "$kd/text.txt" "${K[@]}" "${resume[@]}" --out "$kd/m.safetensors" \
            --log "$kd/log.$i" 2>"$kd/err" &
        pid=$!
            # Past start-up (stale temporary files swept, resume done), then a random moment.
        if ! wait_lines "$kd/log.$i" 1 "$pid"; then
            wait "$pid"
            bad "kill -9 #$i: the run ended before its first step (exit $?): $(cat "$kd/err")"
            break
        fi
        sleep "0.$(printf %03d $((RANDOM % 150)))"
        kill -9 "$pid"
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        for f in "$kd"/*.safetensors; do
            if ! "$recur" info "$f" >/dev/null 2>"$kd/info.err"; then
                bad "kill -9 #$i: $f does not load: $(cat "$kd/info.err")"
            fi
        done
        n=0
        foreign=""
        for f in "$kd"/*.tmp.*; do
            [ -e "$f" ] || continue
            n=$((n + 1))
            case "$f" in *.tmp."$pid") ;; *) foreign="$foreign ${f##*/}" ;; esac
        done
        if [ -z "$foreign" ] && [ $n -le 1 ]; then ok; else bad "kill -9 #$i (pid $pid): $n temporary files:$foreign"; fi
        [ $n = 1 ] && midwrite=$((midwrite + 1))
    done
    s=$(state_step "$kd/m.last.safetensors")
    K[9]=$((s + 3)) # --steps: three more than the state on disk
    expect 0 "" "resume after $kills kills" -- "$recur" train "$kd/text.txt" "${K[@]}" \
        --resume "$kd/m.last.safetensors" --out "$kd/m.safetensors"
    if [ "$(state_step "$kd/m.last.safetensors")" = $((s + 3)) ]; then ok; else bad "the final resumed run did not reach step $((s + 3))"; fi
    if ls "$kd"/*.tmp.* >/dev/null 2>&1; then bad "temporary files remain after a clean run: $(ls "$kd"/*.tmp.*)"; else ok; fi
    echo "kill -9 x$kills during training with --save-every 1: every checkpoint loaded after every kill; $midwrite kills landed mid-write (left PATH.tmp.PID, removed by the next run); resumed to step $((s + 3))"
fi

# Stale temporary files: those of dead PIDs go, those of live ones stay.
sw=$tmp/sweep
mkdir -p "$sw"
head -c 5000 "$src/data/tinyshakespeare.txt" >"$sw/t.txt"
dead=$(($(cat /proc/sys/kernel/pid_max) - 1))
while kill -0 "$dead" 2>/dev/null; do dead=$((dead - 1)); done
touch "$sw/m.safetensors.tmp.$dead" "$sw/m.last.safetensors.tmp.$dead" "$sw/m.safetensors.tmp.$$" \
    "$sw/m.safetensors.tmp.x1" "$sw/other.safetensors.tmp.$dead"
expect 0 "" "train next to stale temporary files" -- "$recur" train "$sw/t.txt" --hidden 8 --layers 1 \
    --seq 8 --batch 2 --steps 2 --val-frac 0 --threads 1 --out "$sw/m.safetensors" --quiet
if [ ! -e "$sw/m.safetensors.tmp.$dead" ] && [ ! -e "$sw/m.last.safetensors.tmp.$dead" ]; then ok; else bad "stale temporary files of a dead PID were not removed"; fi
if [ -e "$sw/m.safetensors.tmp.$$" ] && [ -e "$sw/m.safetensors.tmp.x1" ] && [ -e "$sw/other.safetensors.tmp.$dead" ]; then ok; else bad "a live PID's, a non-PID or another file's temporary file was removed"; fi

# ------------------------------------------------------------ 3. NaN / Inf
# relu + SGD at lr 1e6 without clipping: the loss overflows at step 2.
N=(--nonlinearity relu --optim sgd --lr 1e6 --clip 0 --hidden 32 --layers 1 --seq 16 --batch 8
    --steps 30 --eval-every 1 --save-every 1 --sample-every 0 --threads 1 --quiet)
nd=$tmp/nan
mkdir -p "$nd"
"$recur" train "$text" "${N[@]}" --out "$nd/m.safetensors" >/dev/null 2>"$nd/err"
rc=$?
if [ $rc = 1 ]; then ok; else bad "blow-up: exit $rc, expected 1"; fi
skips=$(grep -c "loss or gradient is not finite; step skipped, learning rate halved to" "$nd/err")
if [ "$skips" = 10 ]; then ok; else bad "blow-up: $skips skipped-step lines, expected 10: $(head -n 3 "$nd/err")"; fi
if grep -q "halved to 500000$" "$nd/err" && grep -q "halved to 976.562$" "$nd/err"; then ok; else bad "blow-up: learning rate not halved 1e6 -> 5e5 -> ... -> 976.562"; fi
if tail -n 1 "$nd/err" | grep -q "^recur train: training diverged: loss or gradient not finite for 10 steps in a row at step [0-9]* (lower --lr or --clip)$"; then
    ok
else
    bad "blow-up: last line is not the divergence message: $(tail -n 1 "$nd/err")"
fi
# No model with a non-finite validation loss or weight is saved as the best;
# the periodic state from before the blow-up loads and is finite.
check_finite() { # FILE: every F32 weight finite (Python's standard library only)
    python3 - "$1" <<'EOF'
import array, json, math, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
for k, v in h.items():
    if k == '__metadata__' or v['dtype'] != 'F32':
        continue
    a = array.array('f')
    a.frombytes(b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]])
    if not all(math.isfinite(x) for x in a):
        sys.exit('%s: tensor %s is not finite' % (sys.argv[1], k))
EOF
}
if [ -e "$nd/m.safetensors" ]; then
    if "$recur" info "$nd/m.safetensors" --json | grep -q '"best_val":null'; then bad "blow-up: a best model without a finite validation loss was written"; else ok; fi
else
    ok
fi
if "$recur" info "$nd/m.last.safetensors" >/dev/null 2>&1; then ok; else bad "blow-up: the periodic state does not load"; fi
if command -v python3 >/dev/null; then
    for f in "$nd"/*.safetensors; do
        if check_finite "$f"; then ok; else bad "blow-up: $f holds a non-finite weight"; fi
    done
else
    skip "finite-weights check of the blow-up's files: no python3"
fi
echo "blow-up (relu, sgd, lr 1e6, no clip): 10 steps skipped with lr halved each time, exit 1; no non-finite model written"

# ------------------------------------------------------------ 4. bad inputs
bd=$tmp/bad
mkdir -p "$bd"
head -c 20000 "$src/data/tinyshakespeare.txt" >"$bd/en.txt"
T=(--hidden 16 --layers 1 --seq 16 --batch 4 --steps 3 --sample-every 0 --threads 1 --quiet)
expect 0 "" "train a small model" -- "$recur" train "$bd/en.txt" "${T[@]}" --out "$bd/m.safetensors"
expect 0 "" "train a small lstm" -- "$recur" train "$bd/en.txt" "${T[@]}" --cell lstm --out "$bd/lstm.safetensors"

# Texts.
printf 'abc' >"$bd/tiny.txt"
expect 1 "text too short" "text shorter than one window" -- "$recur" train "$bd/tiny.txt" --seq 50 --batch 1 --out "$bd/x.safetensors" --quiet
for r in 1 2 3 4; do for i in $(seq 0 255); do printf "\\x$(printf %02x "$i")"; done; done >"$bd/binary.bin"
expect 1 "invalid UTF-8 at byte offset 128 (use --bytes" "binary data without --bytes" -- "$recur" train "$bd/binary.bin" --out "$bd/x.safetensors" --quiet
expect 0 "" "binary data with --bytes" -- "$recur" train "$bd/binary.bin" "${T[@]}" --bytes --seq 8 --val-frac 0 --out "$bd/bytes.safetensors"
if "$recur" info "$bd/bytes.safetensors" | grep -q "^vocabulary *256 bytes"; then ok; else bad "the byte model's vocabulary is not 256 bytes"; fi
expect 0 "" "sample from a byte model" -- "$recur" sample "$bd/bytes.safetensors" --length 50
expect 0 "" "eval binary data with a byte model" -- "$recur" eval "$bd/bytes.safetensors" "$bd/binary.bin"
printf 'The \xff\xfe' >"$bd/badtail.txt"
expect 1 "invalid UTF-8 at byte offset 4" "eval invalid UTF-8 with a UTF-8 model" -- "$recur" eval "$bd/m.safetensors" "$bd/badtail.txt"
printf 'x' >"$bd/one.txt"
expect 1 "nothing to evaluate" "eval a one-character text" -- "$recur" eval "$bd/m.safetensors" "$bd/one.txt"
expect 1 "is a directory" "eval a directory" -- "$recur" eval "$bd/m.safetensors" "$bd"
expect 1 "No such file" "eval a missing text" -- "$recur" eval "$bd/m.safetensors" "$bd/nope.txt"
expect 0 "" "train from a pipe" -- sh -c "cat '$bd/en.txt' | '$recur' train /dev/stdin ${T[*]} --out '$bd/pipe.safetensors'"
expect 1 "No such file" "a missing --val" -- "$recur" train "$bd/en.txt" --val "$bd/nope.txt" --out "$bd/x.safetensors" --quiet
# --val: the vocabulary is the union of both texts' (built from each
# vocabulary, not from a copy of both texts); an error names the file.
head -c 3000 "$bd/en.txt" >"$bd/val.txt"
printf '\n\xc3\xa9\xe2\x82\xac~\n' >>"$bd/val.txt"
expect 0 "" "--val with characters the training text lacks" -- "$recur" train "$bd/en.txt" "${T[@]}" --val "$bd/val.txt" --out "$bd/val.safetensors"
n_tr=$(LC_ALL=C.UTF-8 python3 -c 'import sys; print(len(set(open(sys.argv[1], encoding="utf-8").read()) | set(open(sys.argv[2], encoding="utf-8").read())))' "$bd/en.txt" "$bd/val.txt" 2>/dev/null || echo "")
if [ -z "$n_tr" ]; then
    skip "--val vocabulary size: no python3"
elif "$recur" info "$bd/val.safetensors" --json | grep -q "\"vocab_size\":$n_tr,"; then ok; else bad "--val: the vocabulary is not the union of both texts' ($n_tr characters): $("$recur" info "$bd/val.safetensors" --json)"; fi
expect 1 "badtail.txt: invalid UTF-8 at byte offset 4" "--val with invalid UTF-8" -- "$recur" train "$bd/en.txt" "${T[@]}" --val "$bd/badtail.txt" --out "$bd/x.safetensors"

# Checkpoints.
: >"$bd/empty.safetensors"
expect 1 "file is empty" "info on an empty file" -- "$recur" info "$bd/empty.safetensors"
expect 1 "is a directory" "info on a directory" -- "$recur" info "$bd"
head -c 1500 "$bd/m.safetensors" >"$bd/trunc.safetensors"
expect 1 "trunc.safetensors: " "info on a truncated checkpoint" -- "$recur" info "$bd/trunc.safetensors"
head -c $(($(wc -c <"$bd/m.last.safetensors") - 100)) "$bd/m.last.safetensors" >"$bd/trunc.last.safetensors"
expect 1 "file truncated?" "resume from a truncated state" -- "$recur" train "$bd/en.txt" "${T[@]}" --resume "$bd/trunc.last.safetensors" --out "$bd/x.safetensors"
printf '\377\377\377\377\377\377\377\177{}' >"$bd/huge_len.safetensors"
expect 1 "exceeds the limit" "a header length of 2^63" -- "$recur" sample "$bd/huge_len.safetensors"
# A 12 MB header of [0,0,...]: refused after 2,000,000 values (about 200 MB)
# instead of building all 6 million (about 670 MB); under a 450 MB
# address-space limit when the binary allows one (not under ASan or valgrind).
le64() { # N: eight bytes, little-endian
    local i
    for i in 0 1 2 3 4 5 6 7; do printf "\\$(printf %03o $((($1 >> (8 * i)) & 255)))"; done
}
vlimit_ok=0
if [ $valgrind = 0 ] && { (ulimit -v 450000 && "$recur" --version) >/dev/null 2>&1; } 2>/dev/null; then vlimit_ok=1; fi
if [ $valgrind = 1 ]; then
    skip "a 12 MB header of zeros under valgrind (2,000,000 allocations); run in the plain and sanitizer builds"
else
    {
        printf '{"t":{"dtype":"F32","data_offsets":[0,0],"shape":['
        head -c 6000000 /dev/zero | tr '\0' '0' | sed 's/0/0,/g'
        printf '0]}}'
    } >"$bd/hdr.json"
    {
        le64 "$(wc -c <"$bd/hdr.json")"
        cat "$bd/hdr.json"
    } >"$bd/bighdr.safetensors"
    rm -f "$bd/hdr.json"
    if [ $vlimit_ok = 1 ]; then
        expect 1 "more than 2000000 values" "a 12 MB header of zeros, under a 450 MB limit" -- sh -c "ulimit -v 450000; exec '$recur' info '$bd/bighdr.safetensors'"
    else
        expect 1 "more than 2000000 values" "a 12 MB header of zeros" -- "$recur" info "$bd/bighdr.safetensors"
    fi
    rm -f "$bd/bighdr.safetensors"
fi

# --resume with a state that does not belong to this run.
"$recur" train "$bd/en.txt" "${T[@]}" --save-every 1 --out "$bd/m.safetensors" >/dev/null 2>&1
printf '안녕하세요 😀 %.0s' $(seq 1 400) >"$bd/uni.txt"
expect 1 "uni.txt: U+C548 '안' at byte offset 0 is not in the vocabulary of $bd/m.last.safetensors" "resume on a text with another vocabulary" -- "$recur" train "$bd/uni.txt" "${T[@]}" --resume "$bd/m.last.safetensors" --out "$bd/x.safetensors"
head -c 300 "$bd/en.txt" >"$bd/short.txt"
"$recur" train "$bd/en.txt" "${T[@]}" --batch 1 --steps 60 --val-frac 0 --out "$bd/far.safetensors" >/dev/null 2>&1
expect 1 "data position" "resume on a shorter text" -- "$recur" train "$bd/short.txt" "${T[@]}" --batch 1 --steps 70 --val-frac 0 --resume "$bd/far.last.safetensors" --out "$bd/x.safetensors"
expect 1 "--hidden does not match" "resume with another --hidden" -- "$recur" train "$bd/en.txt" "${T[@]}" --hidden 17 --resume "$bd/m.last.safetensors" --out "$bd/x.safetensors"
expect 1 "--cell does not match" "resume an rnn state as an lstm" -- "$recur" train "$bd/en.txt" "${T[@]}" --cell lstm --resume "$bd/m.last.safetensors" --out "$bd/x.safetensors"
expect 1 "resume with the same values" "resume with another --seq" -- "$recur" train "$bd/en.txt" "${T[@]}" --seq 15 --resume "$bd/m.last.safetensors" --out "$bd/x.safetensors"
expect 1 "resume with the same optimizer" "resume with another --optim" -- "$recur" train "$bd/en.txt" "${T[@]}" --optim sgd --resume "$bd/m.last.safetensors" --out "$bd/x.safetensors"
expect 1 "cannot open" "resume from a missing file" -- "$recur" train "$bd/en.txt" "${T[@]}" --resume "$bd/nope.safetensors" --out "$bd/x.safetensors"
expect 1 "header length" "resume from a text file" -- "$recur" train "$bd/en.txt" "${T[@]}" --resume "$bd/en.txt" --out "$bd/x.safetensors"

# Sampling.
expect 1 "invalid UTF-8 at byte offset 0" "prime with invalid UTF-8" -- "$recur" sample "$bd/m.safetensors" --prime $'\xff'
expect 1 "is not in the model's vocabulary" "prime with a character outside the vocabulary" -- "$recur" sample "$bd/m.safetensors" --prime "안"
expect 1 "--prime needs at least one character" "an empty prime" -- "$recur" sample "$bd/m.safetensors" --prime ""
expect 0 "" "temperature 0" -- "$recur" sample "$bd/lstm.safetensors" --prime "The " --length 60 --temperature 0
cp "$tmp/out" "$bd/greedy"
expect 0 "" "temperature 1e-9" -- "$recur" sample "$bd/lstm.safetensors" --prime "The " --length 60 --temperature 1e-9 --seed 9
if cmp -s "$tmp/out" "$bd/greedy"; then ok; else bad "temperature 1e-9 is not greedy (differs from temperature 0)"; fi
expect 0 "" "--length 0" -- "$recur" sample "$bd/m.safetensors" --prime "The" --length 0
if [ "$(cat "$tmp/out")" = "The" ] && [ "$(wc -c <"$tmp/out")" = 4 ]; then ok; else bad "--length 0 printed '$(cat "$tmp/out")'"; fi
expect 1 "cannot write to standard output" "sample to a full disk (/dev/full)" -- sh -c "exec '$recur' sample '$bd/m.safetensors' --length 100 >/dev/full"

# Negative and zero sizes: usage errors (exit 2) naming the option.
for a in "train x --batch 0" "train x --layers 0" "train x --steps -1" "train x --epochs 0" "train x --embed -1" \
    "train x --lr 0" "train x --lr -1" "train x --lr nan" "train x --lr inf" "train x --threads 0" "train x --dropout 1" \
    "train x --seq 0" "train x --hidden -5" "train x --clip -1" "train x --save-every -1" "train x --eval-every -1" \
    "sample x --length -1" "sample x --top-k -1" "sample x --top-p 0" "sample x --temperature nan" "sample x --temperature inf" \
    "eval x y --threads 0"; do
    # Under valgrind every fourth: each start costs seconds, and these return
    # before allocating anything.
    vi=$((${vi:-0} + 1))
    [ $valgrind = 1 ] && [ $((vi % 4)) != 1 ] && continue
    opt=$(printf '%s\n' $a | grep -e '^--')
    expect 2 "invalid value for $opt" "recur $a" -- "$recur" $a
done

# Outputs that cannot be written fail before training, with the path.
printf 'x' >"$bd/afile"
expect 1 "afile is not a directory" "--out under a regular file" -- "$recur" train "$bd/en.txt" "${T[@]}" --out "$bd/afile/m.safetensors"
expect 1 "does not exist" "--last in a missing directory" -- "$recur" train "$bd/en.txt" "${T[@]}" --out "$bd/x.safetensors" --last "$bd/no/such/x.safetensors"
expect 1 "it is a directory" "--out is a directory" -- "$recur" train "$bd/en.txt" "${T[@]}" --out "$bd"
expect 1 "cannot write /proc/m.safetensors" "--out in /proc (unwritable even for root)" -- "$recur" train "$bd/en.txt" "${T[@]}" --out /proc/m.safetensors --log "$bd/proc.log"
if [ ! -e "$bd/proc.log" ]; then ok; else bad "--out in /proc: it failed only after training ($(lines "$bd/proc.log") steps logged)"; fi
expect 1 "cannot write" "--log under a regular file" -- "$recur" train "$bd/en.txt" "${T[@]}" --out "$bd/x.safetensors" --log "$bd/afile/log"

# A 2 GB text (sparse: all NUL bytes, valid UTF-8 with a one-character
# vocabulary) is mapped, never copied: training runs under an address-space
# limit of 2 GB + 512 MB, which a second copy of the text would exceed. And
# its pages are let go as they are read: peak RSS stays under 256 MB (about
# 14 MB in a plain build), where it used to be the whole 2 GB. Under ASan,
# whose shadow memory (an eighth of all memory read, 256 MB here) counts in
# the RSS too, under 512 MB. Peak RSS is the child's ru_maxrss, read by
# Python's standard library.
# peak FILE COMMAND...: runs COMMAND, writes its peak RSS in kB to FILE, and
# exits with its status.
peak() {
    python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$@"
}
# check_peak LIMIT_MB
check_peak() {
    if [ ! -s "$tmp/peak" ]; then return; fi
    local kb
    kb=$(cat "$tmp/peak")
    if [ "$kb" -lt $(($1 * 1024)) ]; then
        ok
        echo "2 GB sparse text: peak RSS of training $((kb / 1024)) MB"
    else
        bad "training on a 2 GB text: peak RSS $((kb / 1024)) MB, expected under $1 MB (the text's pages must be released as they are read)"
    fi
}
run_peak=()
rm -f "$tmp/peak"
if command -v python3 >/dev/null; then run_peak=(peak "$tmp/peak"); else skip "peak RSS on a 2 GB text: no python3"; fi
if [ $valgrind = 1 ]; then
    skip "2 GB text under valgrind (two passes over 2 GB); run in the plain and sanitizer builds"
elif ! truncate -s 2G "$bd/big.txt" 2>/dev/null; then
    skip "2 GB text: cannot create a sparse file here"
else
    if [ $vlimit_ok = 1 ]; then
        expect 0 "" "train on a 2 GB file, address space <= 2.5 GB" -- "${run_peak[@]}" sh -c "ulimit -v 2621440; exec '$recur' train '$bd/big.txt' --hidden 8 --layers 1 --seq 8 --batch 4 --steps 3 --val-frac 0 --threads 1 --quiet --out '$bd/big.safetensors'"
        check_peak 256
        # eval walks all 2 GB (minutes): it must run under the same limit; stop it after 2 s.
        (ulimit -v 2621440; exec timeout 2 "$recur" eval "$bd/big.safetensors" "$bd/big.txt") >/dev/null 2>"$tmp/err"
        rc=$?
        if [ $rc = 124 ]; then ok; else bad "eval of a 2 GB file under a 2.5 GB address-space limit: exit $rc ($(cat "$tmp/err"))"; fi
        echo "2 GB sparse text: trained and evaluated within a 2.5 GB address-space limit (mapped, not copied)"
    else
        skip "2 GB text under an address-space limit (this binary cannot run under ulimit -v: ASan); training on it without the limit"
        expect 0 "" "train on a 2 GB file" -- "${run_peak[@]}" "$recur" train "$bd/big.txt" --hidden 8 --layers 1 --seq 8 --batch 4 --steps 3 --val-frac 0 --threads 1 --quiet --out "$bd/big.safetensors"
        check_peak 512
    fi
    rm -f "$bd/big.txt"
fi

finish "(${SECONDS}s)"
