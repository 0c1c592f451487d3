#!/usr/bin/env bash
# cli_recompute.sh - --recompute (the LSTM/GRU gates made again in the
# backward instead of kept) keeps its promises: every train command takes
# it; a run is repeatable and does not depend on the thread count; it trains
# what the keeping run trains up to rounding (the loss within 0.5 %); the
# state records it and a resume in the other mode is refused, while a resume
# at a validation step continues bit for bit; on a vanilla RNN it changes
# nothing; recur bench --recompute says in its JSON whether it did and its
# peak memory is lower.
# usage: cli_recompute.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check() { if eval "$2"; then ok; else bad "$1"; fi; }

head -c 30000 "$src/data/tinyshakespeare.txt" >"$tmp/text.txt"
# Steps of the training runs, and between validations: fewer under valgrind
# (RECUR_VALGRIND), where the chunked passes are what matters, not training.
# Under valgrind also only the shape with several chunks, and no resume runs
# (the plain and ASan passes run them).
K=12 E=6 A=6 AE=3 shapes=("8 24" "64 40") vg=0
if [ -n "${RECUR_VALGRIND:-}" ]; then K=4 E=2 A=2 AE=1 shapes=("64 40") vg=1; fi
# The tensors of a safetensors file (what follows its 8-byte length and JSON
# header), and its header's printable text.
tensors() {
    local n
    n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +$((9 + n)) "$1"
}
same_tensors() { cmp -s <(tensors "$1") <(tensors "$2"); }
hdr() { head -c 8192 "$1" | tr -c '[:print:]' ' '; }

# Batch 8 x 24 steps: 192 rows, so the 1024-row chunks hold the window whole;
# batch 64 x 40 steps (2560 rows) is three chunks of 16 steps, the last short.
for shape in "${shapes[@]}"; do
    read -r bb tt <<<"$shape"
    t=(train "$tmp/text.txt" --cell lstm --hidden 32 --layers 2 --dropout 0.1 --batch "$bb" --seq "$tt" --val-frac 0.1 --quiet --sample-every 0)
    "$recur" "${t[@]}" --steps $K --eval-every $E --out "$tmp/k$bb.safetensors" 2>/dev/null
    "$recur" "${t[@]}" --steps $K --eval-every $E --recompute --out "$tmp/r$bb.safetensors" 2>"$tmp/r$bb.err"
    "$recur" "${t[@]}" --steps $K --eval-every $E --recompute --out "$tmp/s$bb.safetensors" 2>/dev/null
    "$recur" "${t[@]}" --steps $K --eval-every $E --recompute --threads 2 --out "$tmp/u$bb.safetensors" 2>/dev/null
    check "train --recompute (B$bb T$tt) saves a model, quietly" '[ -s "$tmp/r$bb.safetensors" ] && [ ! -s "$tmp/r$bb.err" ]'
    check "train --recompute (B$bb T$tt) is repeatable" 'cmp -s "$tmp/r$bb.safetensors" "$tmp/s$bb.safetensors"'
    check "train --recompute --threads 2 (B$bb T$tt) trains the same bits as 1 thread" 'cmp -s "$tmp/r$bb.safetensors" "$tmp/u$bb.safetensors"'
    if [ "$bb" = 8 ]; then # one chunk: the keeping run's products and sums exactly
        check "train --recompute with the window in one chunk trains the keeping run's weights" 'same_tensors "$tmp/k$bb.safetensors" "$tmp/r$bb.safetensors"'
    fi
    check "a --recompute model says so in recur.train" 'hdr "$tmp/r$bb.safetensors" | grep -q "recompute..:1" && ! hdr "$tmp/k$bb.safetensors" | grep -q "recompute"'
    "$recur" eval "$tmp/k$bb.safetensors" "$tmp/text.txt" >"$tmp/ke" 2>&1
    "$recur" eval "$tmp/r$bb.safetensors" "$tmp/text.txt" >"$tmp/re" 2>&1
    lk=$(grep -o '[0-9.]* nats' "$tmp/ke" | head -1 | cut -d' ' -f1)
    lr=$(grep -o '[0-9.]* nats' "$tmp/re" | head -1 | cut -d' ' -f1)
    check "recompute's loss $lr within 0.5 % of keeping's $lk (B$bb T$tt)" 'awk -v a="$lk" -v b="$lr" "BEGIN { d = (b - a) / a; exit !(a > 0 && d < 0.005 && d > -0.005) }"'
done

# Resume: the state records recompute; a stop at a validation step continues
# bit for bit; the other mode is refused both ways.
if [ $vg = 0 ]; then
    t=(train "$tmp/text.txt" --cell gru --hidden 32 --layers 2 --batch 64 --seq 40 --val-frac 0.1 --quiet --sample-every 0)
    "$recur" "${t[@]}" --steps $K --eval-every $E --recompute --out "$tmp/g.safetensors" 2>/dev/null
    "$recur" "${t[@]}" --steps $E --eval-every $E --recompute --out "$tmp/h.safetensors" 2>/dev/null
    "$recur" "${t[@]}" --steps $K --eval-every $E --recompute --out "$tmp/h2.safetensors" --resume "$tmp/h.last.safetensors" 2>/dev/null
    check "a --recompute run resumed at step $E ends as the uninterrupted one" 'cmp -s "$tmp/h2.safetensors" "$tmp/g.safetensors"'
    check "the state of a --recompute run says so" 'hdr "$tmp/h.last.safetensors" | grep -q "recur.state.recompute\"[: ]*\"1\""'
    expect 1 "with --recompute" "resuming a --recompute state without it" -- "$recur" "${t[@]}" --steps $K --eval-every $E \
        --out "$tmp/h3.safetensors" --resume "$tmp/h.last.safetensors"
    "$recur" "${t[@]}" --steps $E --eval-every $E --out "$tmp/p.safetensors" 2>/dev/null
    expect 1 "without --recompute" "resuming a keeping state with --recompute" -- "$recur" "${t[@]}" --steps $K --eval-every $E \
        --recompute --out "$tmp/p3.safetensors" --resume "$tmp/p.last.safetensors"
fi

# A vanilla RNN keeps no gates: the same weights either way.
t=(train "$tmp/text.txt" --cell rnn --hidden 32 --batch 8 --seq 24 --val-frac 0.1 --quiet --sample-every 0 --steps 8 --eval-every 4)
"$recur" "${t[@]}" --out "$tmp/n1.safetensors" 2>/dev/null
"$recur" "${t[@]}" --recompute --out "$tmp/n2.safetensors" 2>/dev/null
check "an rnn trains the same weights with --recompute" 'same_tensors "$tmp/n1.safetensors" "$tmp/n2.safetensors"'
check "an rnn's model says nothing of recompute (it did not)" '! hdr "$tmp/n2.safetensors" | grep -q recompute'
expect 0 "an rnn's --recompute state resumed without it" -- "$recur" "${t[@]}" --steps 12 --out "$tmp/n3.safetensors" --resume "$tmp/n2.last.safetensors"

# bench: the JSON key, and less peak memory on a window whose gates dominate
# (LSTM H256 B64 T100: 26 MB of gates per layer). Not under valgrind, whose
# resident memory is its own and whose step there takes a minute.
if [ -z "${RECUR_VALGRIND:-}" ]; then
    b=(bench --cell lstm --hidden 256 --layers 2 --batch 64 --seq 100 --seconds 0.05 --warmup 0 --sample-seconds 0.01 --text "$tmp/text.txt" --json)
    "$recur" "${b[@]}" >"$tmp/bk.json" 2>/dev/null
    "$recur" "${b[@]}" --recompute >"$tmp/br.json" 2>/dev/null
    check "bench --recompute --json says recompute 1, without it 0" 'grep -q "\"recompute\":1" "$tmp/br.json" && grep -q "\"recompute\":0" "$tmp/bk.json"'
    rss() { grep -o '"peak_rss_mib":[0-9.]*' "$1" | cut -d: -f2; }
    mk=$(rss "$tmp/bk.json")
    mr=$(rss "$tmp/br.json")
    check "bench --recompute peaks lower ($mr MiB) than keeping ($mk MiB)" 'awk -v a="$mk" -v b="$mr" "BEGIN { exit !(a > 0 && b > 0 && b < a - 20) }"'
fi

# The gradient of every step (grad_norm in --log) is the keeping run's up to
# rounding: a chunk whose gates were remade wrongly would change it at once.
gnorms() { grep -o '"grad_norm":[0-9.e+-]*' "$1" | cut -d: -f2; }
same_gnorms() { # two logs with the same steps, every grad_norm within 1e-3 relative
    paste <(gnorms "$1") <(gnorms "$2") | awk 'BEGIN { n = 0 } { n++; d = $1 - $2; if (d < 0) d = -d; if ($1 <= 0 || d > 1e-3 * $1) bad = 1 } END { exit !(n > 0 && !bad) }'
}
# Long rows in batches of 64: more than 1024 rows a window, so several chunks.
awk 'BEGIN { srand(7); for (i = 0; i < 240; i++) { s = ""; for (k = 0; k < 36; k++) s = s sprintf("%c", 97 + int(rand() * 8)); print (substr(s, 1, 1) < "e" ? "low" : "high") "\t" s } }' >"$tmp/long.tsv"
a=(--steps $A --eval-every $AE --threads 1 --quiet --hidden 32 --batch 64)
"$recur" classify train "$tmp/long.tsv" "${a[@]}" --val-frac 0.2 --out "$tmp/lc.safetensors" --log "$tmp/lck.jsonl" >/dev/null 2>&1
"$recur" classify train "$tmp/long.tsv" "${a[@]}" --val-frac 0.2 --out "$tmp/lc2.safetensors" --log "$tmp/lcr.jsonl" --recompute >/dev/null 2>&1
check "classify train --recompute, 2300-row batches: every step's gradient norm is keeping's" 'same_gnorms "$tmp/lck.jsonl" "$tmp/lcr.jsonl"'
awk -F'\t' '{ s = $2; r = ""; for (k = length(s); k > 0; k--) r = r substr(s, k, 1); print s "\t" r }' "$tmp/long.tsv" >"$tmp/long_pairs.tsv"
"$recur" seq2seq train "$tmp/long_pairs.tsv" "${a[@]}" --out "$tmp/ls.safetensors" --log "$tmp/lsk.jsonl" >/dev/null 2>&1
"$recur" seq2seq train "$tmp/long_pairs.tsv" "${a[@]}" --out "$tmp/ls2.safetensors" --log "$tmp/lsr.jsonl" --recompute >/dev/null 2>&1
check "seq2seq train --recompute, long pairs: every step's gradient norm is keeping's" 'same_gnorms "$tmp/lsk.jsonl" "$tmp/lsr.jsonl"'
t=(train "$tmp/text.txt" --cell lstm --hidden 32 --layers 2 --dropout 0.1 --batch 64 --seq 40 --val-frac 0.1 --quiet --sample-every 0 --steps $K --eval-every $E)
"$recur" "${t[@]}" --out "$tmp/lk.safetensors" --log "$tmp/lk.jsonl" 2>/dev/null
"$recur" "${t[@]}" --recompute --out "$tmp/lr.safetensors" --log "$tmp/lr.jsonl" 2>/dev/null
check "train --recompute (three chunks): every step's gradient norm is keeping's" 'same_gnorms "$tmp/lk.jsonl" "$tmp/lr.jsonl"'

# The applications take it too (through the one engine).
printf 'good\tI liked it a lot\nbad\tawful and dull\ngood\tgreat fun\nbad\tboring stuff\ngood\tnice work\nbad\tpoor show\n' >"$tmp/c.tsv"
q=(--steps 4 --eval-every 2 --threads 1 --quiet --hidden 16 --recompute)
"$recur" classify train "$tmp/c.tsv" "${q[@]}" --batch 3 --val-frac 0.34 --out "$tmp/c.safetensors" >/dev/null 2>&1
check "classify train --recompute" '[ -s "$tmp/c.safetensors" ]'
printf 'ab\tba\nabc\tcba\nbca\tacb\ncab\tbac\n' >"$tmp/p.tsv"
"$recur" seq2seq train "$tmp/p.tsv" "${q[@]}" --batch 4 --out "$tmp/s.safetensors" >/dev/null 2>&1
check "seq2seq train --recompute" '[ -s "$tmp/s.safetensors" ]'
"$recur" train "$tmp/c.tsv" --by-class "${q[@]}" --batch 3 --val-frac 0.34 --out "$tmp/d.safetensors" >/dev/null 2>&1
check "train --by-class --recompute" '[ -s "$tmp/d.safetensors" ]'
printf 'the\tDET\ncat\tNOUN\n\na\tDET\ndog\tNOUN\nran\tVERB\n\nthe\tDET\nbird\tNOUN\n\n' >"$tmp/t.tsv"
"$recur" tag train "$tmp/t.tsv" "${q[@]}" --batch 2 --dev "$tmp/t.tsv" --out "$tmp/t.safetensors" >/dev/null 2>&1
check "tag train --recompute" '[ -s "$tmp/t.safetensors" ]'
finish
