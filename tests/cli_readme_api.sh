#!/usr/bin/env bash
# cli_readme_api.sh - the README's "C API in ten lines" is real: install the
# library into a temporary prefix, compile the README's code block against
# the installed header and librecur.a, and run it on a freshly trained model.
# Also checks that librecur.a exports nothing but recur_* symbols.
# usage: cli_readme_api.sh RECUR_BINARY SOURCE_DIR EXAMPLES_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "$3/.." && pwd)
check() { if "$@"; then ok; else bad "$*"; fi; }

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
check test -f "$tmp/prefix/include/recur.h"
lib=$(find "$tmp/prefix" -name librecur.a | head -n 1)
check test -n "$lib"
pc=$(find "$tmp/prefix" -name recur.pc | head -n 1)
check test -n "$pc"
others=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $3 !~ /^recur_/ {print $3}')
check test -z "$others"
[ -z "$others" ] || echo "non-recur_ symbols exported: $others" >&2

# The code block that follows the README's "C API in ten lines" heading.
awk '/^## The C API in ten lines/ {on = 1} on && /^```c$/ {code = 1; next} code && /^```$/ {exit} code {print}' \
    "$src/README.md" >"$tmp/prog.c"
check test -s "$tmp/prog.c"
# recur.pc: what librecur.a needs (-pthread -lm) is in Libs.private, and
# OpenMP is gone (nothing uses it).
check grep -qx 'Libs.private: -pthread -lm' "$pc"
if grep -qi 'openmp\|gomp' "$pc"; then bad "recur.pc names OpenMP"; else ok; fi
# Linked against librecur.a itself (librecur.so is installed beside it, and
# -lrecur would pick that): the flags are pkg-config's, -lrecur aside.
if command -v pkg-config >/dev/null; then
    pkc() { PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$tmp/prefix" "$@" recur; }
    flags="$(pkc --cflags) $lib $(pkc --static --libs | sed 's/-L[^ ]*//g; s/-lrecur\b//g')"
else
    flags="-I$tmp/prefix/include $lib $(sed -n 's/^Libs.private: //p' "$pc")"
fi
# shellcheck disable=SC2086
check cc -std=c11 -Wall -o "$tmp/prog" "$tmp/prog.c" $flags
# And every program of examples/ builds the same way.
for ex in "$src"/examples/*.c; do
    # shellcheck disable=SC2086
    check cc -std=c11 -Wall -o "$tmp/example" "$ex" $flags
done

head -c 20000 "$src/data/tinyshakespeare.txt" >"$tmp/t.txt"
"$recur" train "$tmp/t.txt" --hidden 16 --layers 1 --steps 5 --seq 16 --batch 4 \
    --out "$tmp/shakespeare.safetensors" --quiet
out=$(cd "$tmp" && ./prog)
check test "${#out}" -ge 150
finish
