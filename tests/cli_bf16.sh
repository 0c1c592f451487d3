#!/usr/bin/env bash
# cli_bf16.sh - bf16 mixed-precision training (--bf16) keeps its promises:
# every train command takes it; a run is repeatable and does not depend on
# the thread count; its loss is near fp32's; the saved model is fp32 (what
# PyTorch loads); the resumable state records the precision, a resume in the
# other precision is refused, and a resume at a validation step continues bit
# for bit; recur bench --bf16 says in its JSON whether it trained so. Where the
# CPU has no AVX512-BF16 (or RECUR_KERNELS=portable), --bf16 says so once on
# stderr and trains exactly the fp32 run.
# usage: cli_bf16.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check() { if eval "$2"; then ok; else bad "$1"; fi; }

head -c 30000 "$src/data/tinyshakespeare.txt" >"$tmp/text.txt"
# Does this CPU (as the kernels are chosen) run bf16 products? bench's JSON says.
"$recur" bench --cell lstm --hidden 32 --layers 1 --batch 4 --seq 8 --seconds 0.05 --warmup 0 \
    --sample-seconds 0.01 --bf16 --text "$tmp/text.txt" --json >"$tmp/bench.json" 2>"$tmp/bench.err"
check "bench --bf16 --json has the bf16 key" 'grep -q "\"bf16\":[01]" "$tmp/bench.json" && grep -q "\"train_chars_per_s\":" "$tmp/bench.json"'
if grep -q '"bf16":1' "$tmp/bench.json"; then has=1; else has=0; fi
if [ $has = 0 ]; then
    check "bench --bf16 says the CPU lacks AVX512-BF16" 'grep -q "no AVX512-BF16" "$tmp/bench.err"'
fi

# The tensors of a safetensors file (what follows its 8-byte length and JSON
# header): two models with the same weights but other metadata (recur.train
# records "bf16") have the same tensors.
tensors() {
    local n
    n=$(od -An -t u8 -N 8 "$1" | tr -d ' ')
    tail -c +$((9 + n)) "$1"
}
same_tensors() { cmp -s <(tensors "$1") <(tensors "$2"); }

t=(train "$tmp/text.txt" --cell lstm --hidden 48 --layers 2 --batch 8 --seq 24 --val-frac 0.1 --quiet --sample-every 0)
"$recur" "${t[@]}" --steps 30 --eval-every 10 --out "$tmp/f.safetensors" 2>"$tmp/f.err"
"$recur" "${t[@]}" --steps 30 --eval-every 10 --bf16 --out "$tmp/b.safetensors" 2>"$tmp/b.err"
"$recur" "${t[@]}" --steps 30 --eval-every 10 --bf16 --out "$tmp/b2.safetensors" 2>/dev/null
"$recur" "${t[@]}" --steps 30 --eval-every 10 --bf16 --threads 2 --out "$tmp/b3.safetensors" 2>/dev/null
check "train --bf16 saves a model" '[ -s "$tmp/b.safetensors" ]'
check "train --bf16 is repeatable" 'cmp -s "$tmp/b.safetensors" "$tmp/b2.safetensors"'
check "train --bf16 --threads 2 trains the same bits as 1 thread" 'cmp -s "$tmp/b.safetensors" "$tmp/b3.safetensors"'
if [ $has = 1 ]; then
    check "train --bf16 is quiet where the CPU has bf16" '[ ! -s "$tmp/b.err" ]'
    check "train --bf16 trains other bits than fp32 (its products are bf16)" '! same_tensors "$tmp/f.safetensors" "$tmp/b.safetensors"'
else
    check "train --bf16 says once that it trains in fp32" '[ "$(grep -c "no AVX512-BF16" "$tmp/b.err")" = 1 ]'
    check "without AVX512-BF16, --bf16 trains the fp32 run (the same file)" 'cmp -s "$tmp/f.safetensors" "$tmp/b.safetensors"'
fi
# The saved model is fp32: its header names F32 tensors only.
hdr() { head -c 4096 "$1" | tr -c '[:print:]' ' '; }
check "a bf16-trained model is saved in F32" 'hdr "$tmp/b.safetensors" | grep -q "\"F32\"" && ! hdr "$tmp/b.safetensors" | grep -q "BF16"'
# Its validation loss is near fp32's (the loss each run's eval reports on the same text).
"$recur" eval "$tmp/f.safetensors" "$tmp/text.txt" >"$tmp/fe" 2>&1
"$recur" eval "$tmp/b.safetensors" "$tmp/text.txt" >"$tmp/be" 2>&1
lf=$(grep -o '[0-9.]* nats' "$tmp/fe" | head -1 | cut -d' ' -f1)
lb=$(grep -o '[0-9.]* nats' "$tmp/be" | head -1 | cut -d' ' -f1)
check "bf16 loss $lb within 2 % of fp32's $lf" 'awk -v a="$lf" -v b="$lb" "BEGIN { d = (b - a) / a; exit !(a > 0 && d < 0.02 && d > -0.02) }"'

# Resume: the state records the precision the run had; a stop at a
# validation step continues bit for bit; the other precision is refused
# (where bf16 products cannot run, a --bf16 run is the fp32 run, state too).
"$recur" "${t[@]}" --steps 20 --eval-every 10 --bf16 --out "$tmp/r.safetensors" 2>/dev/null
"$recur" "${t[@]}" --steps 30 --eval-every 10 --bf16 --out "$tmp/r2.safetensors" --resume "$tmp/r.last.safetensors" 2>/dev/null
check "a --bf16 run resumed at step 20 ends as the uninterrupted one" 'cmp -s "$tmp/r2.safetensors" "$tmp/b.safetensors"'
precision() { head -c 8192 "$1" | tr -c "[:print:]" " " | grep -q "recur.state.precision\"[: ]*\"bf16\""; }
if [ $has = 1 ]; then
    check "the state of a --bf16 run says bf16" 'precision "$tmp/r.last.safetensors"'
    expect 1 "--bf16" "resuming a bf16 state without --bf16" -- "$recur" "${t[@]}" --steps 30 --eval-every 10 \
        --out "$tmp/r3.safetensors" --resume "$tmp/r.last.safetensors"
    "$recur" "${t[@]}" --steps 20 --eval-every 10 --out "$tmp/p.safetensors" 2>/dev/null
    expect 1 "without --bf16" "resuming an fp32 state with --bf16" -- "$recur" "${t[@]}" --steps 30 --eval-every 10 \
        --bf16 --out "$tmp/p3.safetensors" --resume "$tmp/p.last.safetensors"
else
    check "the state of a --bf16 run that ran in fp32 says nothing of bf16" '! precision "$tmp/r.last.safetensors"'
fi

# The portable kernels have no bf16 products: fp32, said once.
RECUR_KERNELS=portable "$recur" "${t[@]}" --steps 10 --eval-every 10 --bf16 --out "$tmp/q.safetensors" 2>"$tmp/q.err"
RECUR_KERNELS=portable "$recur" "${t[@]}" --steps 10 --eval-every 10 --out "$tmp/q2.safetensors" 2>/dev/null
check "RECUR_KERNELS=portable --bf16 says it trains in fp32" '[ "$(grep -c "no AVX512-BF16" "$tmp/q.err")" = 1 ]'
check "RECUR_KERNELS=portable --bf16 trains the fp32 run (the same file)" 'cmp -s "$tmp/q.safetensors" "$tmp/q2.safetensors"'
if [ $has = 1 ]; then
    check "a model trained in bf16 says so in recur.train" 'hdr "$tmp/b.safetensors" | grep -q "bf16..:1" && ! hdr "$tmp/f.safetensors" | grep -q "bf16"'
    RECUR_KERNELS=portable expect 1 "cannot run" "a bf16 state resumed where bf16 products cannot run" -- "$recur" "${t[@]}" \
        --steps 30 --eval-every 10 --bf16 --out "$tmp/r4.safetensors" --resume "$tmp/r.last.safetensors"
fi

# The applications take it too (through the one engine).
printf 'good\tI liked it a lot\nbad\tawful and dull\ngood\tgreat fun\nbad\tboring stuff\ngood\tnice work\nbad\tpoor show\n' >"$tmp/c.tsv"
q=(--steps 4 --eval-every 2 --threads 1 --quiet --hidden 16 --bf16)
"$recur" classify train "$tmp/c.tsv" "${q[@]}" --batch 3 --val-frac 0.34 --out "$tmp/c.safetensors" >/dev/null 2>&1
check "classify train --bf16" '[ -s "$tmp/c.safetensors" ]'
printf 'ab\tba\nabc\tcba\nbca\tacb\ncab\tbac\n' >"$tmp/p.tsv"
"$recur" seq2seq train "$tmp/p.tsv" "${q[@]}" --batch 4 --out "$tmp/s.safetensors" >/dev/null 2>&1
check "seq2seq train --bf16" '[ -s "$tmp/s.safetensors" ]'
"$recur" train "$tmp/c.tsv" --by-class "${q[@]}" --batch 3 --val-frac 0.34 --out "$tmp/d.safetensors" >/dev/null 2>&1
check "train --by-class --bf16" '[ -s "$tmp/d.safetensors" ]'
finish "(bf16 products on this CPU: $has)"
