#!/usr/bin/env bash
# cli_install.sh - librecur as other projects use it: install into a
# temporary prefix, then build examples/generate.c against the installation
#  (a) with CMake: find_package(recur CONFIG REQUIRED) and recur::recur (the
#      shared library) and recur::static (the archive);
#  (b) with pkg-config (recur.pc);
# and run each on a freshly trained model: the same prime and seed must give
# the same text from all three. Also checks that librecur.so has a soname
# and exports nothing but recur_* symbols, that recur.h compiles as C++
# (g++ -std=c++11 -pedantic, a program calling the API), and that the bash
# completion file is installed.
# usage: cli_install.sh RECUR_BINARY SOURCE_DIR EXAMPLES_DIR
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build=$(cd "$examples/.." && pwd)
check() { if "$@"; then ok; else bad "$*"; fi; }
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
so=$(find "$prefix" -name 'librecur.so.*.*.*' | head -n 1)
check test -n "$so"
check test -f "$prefix/share/bash-completion/completions/recur"
soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
check test "$soname" = librecur.so.4
others=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 !~ /^recur_/ {print $3}')
check test -z "$others"
[ -z "$others" ] || echo "librecur.so exports non-recur_ symbols: $others" >&2
nexp=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 ~ /^recur_/' | wc -l)
check test "$nexp" -ge 50

head -c 20000 "$src/data/tinyshakespeare.txt" >"$tmp/t.txt"
"$recur" train "$tmp/t.txt" --hidden 16 --layers 1 --steps 5 --seq 16 --batch 4 --threads 1 \
    --out "$tmp/m.safetensors" --quiet

# (a) a CMake project that finds the installed package.
mkdir -p "$tmp/app"
cp "$src/examples/generate.c" "$tmp/app/"
cat >"$tmp/app/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(app C)
find_package(recur 0.1 CONFIG REQUIRED)
add_executable(gen_shared generate.c)
target_link_libraries(gen_shared PRIVATE recur::recur)
add_executable(gen_static generate.c)
target_link_libraries(gen_static PRIVATE recur::static)
CM
if cmake -S "$tmp/app" -B "$tmp/app/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cmake.log" 2>&1 &&
    cmake --build "$tmp/app/build" >>"$tmp/cmake.log" 2>&1; then ok; else
    bad "the CMake package project does not build: $(tail -n 20 "$tmp/cmake.log")"
fi
# The shared one must really use the installed .so (not a copy of the code).
check grep -q 'librecur.so.4' <(readelf -d "$tmp/app/build/gen_shared" 2>/dev/null)
a=$("$tmp/app/build/gen_shared" "$tmp/m.safetensors" "ROMEO:" 100 2>&1) || bad "gen_shared failed: $a"
b=$("$tmp/app/build/gen_static" "$tmp/m.safetensors" "ROMEO:" 100 2>&1) || bad "gen_static failed: $b"

# (b) pkg-config. recur.pc names the configured prefix; the installation was
# put elsewhere, so pkg-config is told where (as for any moved .pc file).
pc() { PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --define-variable=prefix="$prefix" "$@"; }
check test "$(pc --modversion recur)" = "$("$recur" --version | cut -d' ' -f2)"
# shellcheck disable=SC2046
if cc -std=c11 -Wall -o "$tmp/gen_pc" "$src/examples/generate.c" \
    $(pc --cflags --libs recur) 2>"$tmp/cc.log"; then
    ok
else
    bad "pkg-config build failed: $(cat "$tmp/cc.log")"
fi
c=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/gen_pc" "$tmp/m.safetensors" "ROMEO:" 100 2>&1) ||
    bad "gen_pc failed: $c"
check test "${#a}" -ge 100
check test "$a" = "$b"
check test "$a" = "$c"

# (c) the header as C++.
cat >"$tmp/prog.cpp" <<'CPP'
#include <recur.h>
#include <cstdio>
#include <string>
int main(int argc, char **argv)
{
    recur_error err = {};
    recur_model *m = nullptr;
    if (argc < 2 || recur_model_load(argv[1], &m, &err) != RECUR_OK) {
        std::fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    recur_model_info info;
    recur_model_get_info(m, &info);
    std::string cell = recur_cell_name(info.cell);
    std::printf("%s %d\n", cell.c_str(), info.hidden);
    recur_model_free(m);
    return 0;
}
CPP
if command -v g++ >/dev/null; then
    # shellcheck disable=SC2046 # (a sanitized build's recur.pc adds its runtime)
    if g++ -std=c++11 -Wall -Wextra -pedantic -Werror -o "$tmp/prog_cpp" "$tmp/prog.cpp" \
        $(pc --cflags --libs recur) 2>"$tmp/cxx.log"; then ok; else
        bad "recur.h does not compile as C++: $(cat "$tmp/cxx.log")"
    fi
    out=$(LD_LIBRARY_PATH="$prefix/lib" "$tmp/prog_cpp" "$tmp/m.safetensors" 2>&1) || true
    check test "$out" = "rnn 16"
else
    bad "g++ is not installed (build-essential brings it): cannot check recur.h as C++"
fi
finish
