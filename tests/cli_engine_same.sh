#!/usr/bin/env bash
# cli_engine_same.sh - the language model trains bit for bit as it did
# before the training engine: models trained at 5d914a0 (the last commit
# with the old loop, tests/fixtures/before_engine/) are trained again with
# the same command and must be the same bytes. The kernels' results may
# differ in the last bits between instruction sets (docs/design.md,
# determinism), so the check is made where the fixtures were made: a CPU
# with AVX-512; elsewhere the test says so and skips.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if ! grep -q avx512f /proc/cpuinfo 2>/dev/null; then
    echo "skipped: the fixtures were trained with the AVX-512 kernels and this CPU has none"
    exit 77
fi
head -c 200000 "$src/data/tinyshakespeare.txt" >"$tmp/small.txt"
for cell in lstm gru; do
    "$recur" train "$tmp/small.txt" --cell $cell --hidden 32 --layers 2 --dropout 0.1 --embed 8 --steps 60 \
        --eval-every 20 --batch 8 --seq 20 --lr-decay 0.9 --lr-decay-every 10 --threads 2 --quiet \
        --out "$tmp/$cell.safetensors" || { bad "$cell: training failed"; continue; }
    ref="$src/tests/fixtures/before_engine/$cell.safetensors"
    if cmp -s "$ref" "$tmp/$cell.safetensors"; then ok; else bad "$cell: not the bytes trained before the engine"; fi
done
finish
