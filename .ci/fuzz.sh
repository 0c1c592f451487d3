#!/usr/bin/env bash
# .ci/fuzz.sh - builds the libFuzzer targets in fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined) and runs each for a bounded time
# from the committed seed corpus. Fails on any crash, sanitizer report,
# leak, timeout, out-of-memory or violated property (the targets abort).
#
#   FUZZ_SECONDS=60 .ci/fuzz.sh        # seconds per target (default 60)
#   FUZZ_TARGETS="fuzz_text" ...       # a subset
#
# New interesting inputs go to a scratch corpus (not the repository); a
# finding is saved under build-fuzz/artifacts/ and the script says how to
# turn it into a regression test: copy it into fuzz/corpus/<target>/, where
# tests/test_reliability.c replays every file under ASan/UBSan and valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"fuzz_checkpoint fuzz_text fuzz_state fuzz_entry"}
cc=${FUZZ_CC:-clang}
out=build-fuzz

# A clang whose libFuzzer runtime links (Debian: clang + libclang-rt-14-dev).
probe() {
    mkdir -p "$out"
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$out/probe.c"
    "$cc" -fsanitize=fuzzer,address,undefined "$out/probe.c" -o "$out/probe" >/dev/null 2>&1
}
if ! probe; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends clang libclang-rt-14-dev >/dev/null
    fi
    probe || { echo "fuzz: $cc cannot build a libFuzzer target (install clang and libclang-rt-14-dev)" >&2; exit 1; }
fi

# The library is compiled once (instrumented, without libFuzzer's main), in
# parallel; each target links against it.
flags=(-std=c11 -g -O1 -fno-omit-frame-pointer -ffp-contract=off -D_POSIX_C_SOURCE=200809L
    -fno-sanitize-recover=all -Iinclude -Isrc)
san=address,undefined
rm -rf "$out/obj"
mkdir -p "$out/obj"
echo "== build the library with -fsanitize=fuzzer-no-link,$san ($(date +%T))"
export cc out
find src -name '*.c' | sort | xargs -P "$(nproc)" -I{} sh -c \
    'src=$1; shift; exec "$cc" "$@" -c "$src" -o "$out/obj/$(echo "$src" | tr / _).o"' _ {} \
    "${flags[@]}" -fsanitize=fuzzer-no-link,$san

declare -A seeds=(
    [fuzz_checkpoint]="fuzz/corpus/checkpoint fuzz/corpus/state tests/corpus/safetensors"
    [fuzz_state]="fuzz/corpus/state"
    [fuzz_text]="fuzz/corpus/text"
    [fuzz_entry]="fuzz/corpus/checkpoint fuzz/corpus/state fuzz/corpus/entry"
)

status=0
for t in $targets; do
    echo "== $t: build"
    "$cc" "${flags[@]}" -fsanitize=fuzzer,$san "fuzz/$t.c" "$out"/obj/*.o -o "$out/$t" -lm
    work="$out/corpus/$t"
    art="$out/artifacts/$t"
    mkdir -p "$work" "$art"
    echo "== $t: ${seconds}s from ${seeds[$t]} ($(date +%T))"
    # detect_leaks: a leak is a finding too. -timeout: one input may take 10 s.
    if ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1 \
        "./$out/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$art/" "$work" ${seeds[$t]} >"$out/$t.log" 2>&1; then
        grep -E "^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|stat::peak_rss_mb)" "$out/$t.log" | sed "s/^/   /" || true
        echo "== $t: no findings"
    else
        status=1
        tail -n 60 "$out/$t.log"
        echo "== $t: FINDING (full log: $out/$t.log). Reproduce with: ./$out/$t $art/<file>"
        ls "$art"
        echo "   Keep it as a regression test: cp $art/<file> fuzz/corpus/${t#fuzz_}/ (tests/test_reliability.c replays it), then fix the bug."
    fi
done
exit $status
