#!/usr/bin/env bash
# cli_sample_speed.sh - recur sample's speed options keep their promises:
# --threads N draws exactly the characters one thread draws (a model whose
# weights are large enough to be shared), --bf16 runs and is repeatable with
# a seed, recur bench reports the sampling keys (sample_threads,
# sample_bytes_per_char, and with --sample-bf16 sample_bf16_chars_per_s),
# bad values are usage errors, and --help lists both options.
# usage: cli_sample_speed.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check() { if eval "$2"; then ok; else bad "$1"; fi; }

head -c 20000 "$src/data/tinyshakespeare.txt" >"$tmp/text.txt"
# lstm H256: 1.3 MB of weights, above the sampler's 1 MiB threshold for a second thread.
"$recur" train "$tmp/text.txt" --cell lstm --hidden 256 --layers 1 --steps 3 --batch 4 --seq 16 \
    --eval-every 0 --sample-every 0 --out "$tmp/m.safetensors" >/dev/null 2>&1
check "train a model" '[ -s "$tmp/m.safetensors" ]'

s() { "$recur" sample "$tmp/m.safetensors" --prime "ROMEO:" --length 300 --seed 5 --temperature 0.9 "$@"; }
s >"$tmp/t1" 2>"$tmp/e1"
s --threads 2 >"$tmp/t2" 2>"$tmp/e2"
s --threads 3 >"$tmp/t3" 2>"$tmp/e3"
check "sample --threads 1" '[ -s "$tmp/t1" ] && [ ! -s "$tmp/e1" ]'
check "--threads 2 draws the same text as 1 thread" 'cmp -s "$tmp/t1" "$tmp/t2"'
check "--threads 3 draws the same text as 1 thread" 'cmp -s "$tmp/t1" "$tmp/t3"'
s --bf16 >"$tmp/b1" 2>"$tmp/eb"
s --bf16 --threads 2 >"$tmp/b2"
s --bf16 >"$tmp/b3"
check "--bf16 samples" '[ -s "$tmp/b1" ] && [ ! -s "$tmp/eb" ] && head -c 6 "$tmp/b1" | grep -q "ROMEO:"'
check "--bf16 is repeatable with a seed" 'cmp -s "$tmp/b1" "$tmp/b3"'
check "--bf16 --threads 2 draws the same text as --bf16" 'cmp -s "$tmp/b1" "$tmp/b2"'
s --int8 >"$tmp/q1" 2>"$tmp/eq"
s --int8 --threads 2 >"$tmp/q2"
s --int8 >"$tmp/q3"
check "--int8 samples" '[ -s "$tmp/q1" ] && head -c 6 "$tmp/q1" | grep -q "ROMEO:"'
check "--int8 says so only when this CPU lacks VNNI" '[ ! -s "$tmp/eq" ] || grep -q "no AVX512-VNNI" "$tmp/eq"'
check "--int8 is repeatable with a seed" 'cmp -s "$tmp/q1" "$tmp/q3"'
check "--int8 --threads 2 draws the same text as --int8" 'cmp -s "$tmp/q1" "$tmp/q2"'
s --int8 --bf16 >/dev/null 2>"$tmp/err"
check "--int8 with --bf16 is a usage error" '[ $? = 2 ] && grep -q "choose one" "$tmp/err"'

"$recur" sample "$tmp/m.safetensors" --threads 0 >/dev/null 2>"$tmp/err"
check "--threads 0 is a usage error" '[ $? = 2 ] && [ "$(wc -l <"$tmp/err")" = 1 ]'
"$recur" sample --help >"$tmp/help"
check "--help lists --threads and --bf16" 'grep -q -- "--threads N" "$tmp/help" && grep -q -- "--bf16" "$tmp/help"'

"$recur" bench --cell rnn --hidden 64 --layers 1 --batch 2 --seq 8 --seconds 0.05 --warmup 0 \
    --sample-seconds 0.05 --sample-bf16 --sample-int8 --threads 2 --text "$tmp/text.txt" --json >"$tmp/bench.json"
check "bench --json has the sampling keys" 'grep -q "\"sample_chars_per_s\":" "$tmp/bench.json" &&
    grep -q "\"sample_bf16_chars_per_s\":" "$tmp/bench.json" && grep -q "\"sample_int8_chars_per_s\":" "$tmp/bench.json" && grep -q "\"sample_threads\":1," "$tmp/bench.json" &&
    grep -q "\"sample_bytes_per_char\":" "$tmp/bench.json" && grep -q "\"train_chars_per_s\":" "$tmp/bench.json"'

finish
