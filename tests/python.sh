#!/usr/bin/env bash
# python.sh - the Python module's tests (python/tests, pytest) on this
# build's librecur.so and recur binary, with Debian's python3.
#   python.sh pytest LIBRECUR RECUR_BINARY SOURCE_DIR
#       runs pytest; exits 77 (skip) only when python3-pytest is missing.
#       pytest's "no tests ran" (5) is a failure.
#   python.sh install LIBRECUR RECUR_BINARY SOURCE_DIR
#       `pip install ./python` into a fresh venv (offline:
#       --no-index), then uses the installed module from elsewhere: it must
#       be the installed copy, with librecur.so bundled, and work.
#   python.sh example LIBRECUR RECUR_BINARY SOURCE_DIR
#       examples/python/train_sample_plot.py for a few steps: it trains,
#       samples, and writes a PNG when matplotlib is installed.
set -uo pipefail
mode=$1 lib=$2 recur=$3 src=$4
PY=/usr/bin/python3
export RECUR_BINARY=$recur
export PYTHONDONTWRITEBYTECODE=1

case $mode in
pytest)
    if ! "$PY" -c 'import pytest' 2>/dev/null; then
        echo "SKIP: python3-pytest is not installed"
        exit 77
    fi
    RECUR_LIB=$lib "$PY" -m pytest -rs -p no:cacheprovider -p no:hypothesispytest "$src/python/tests"
    rc=$?
    [ "$rc" = 5 ] && echo "FAIL: pytest ran no tests"
    [ "$rc" = 0 ]
    ;;
install)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    if ! "$PY" -m venv --system-site-packages "$tmp/venv" >"$tmp/log" 2>&1; then
        echo "FAIL: python3 -m venv: $(cat "$tmp/log") (python3-venv brings it)"
        exit 1
    fi
    # A copy of python/, so the build leaves nothing in the source tree.
    cp -r "$src/python" "$tmp/pkg"
    rm -rf "$tmp/pkg/build" "$tmp/pkg"/*.egg-info "$tmp/pkg/recur"/librecur.so*
    # Exactly what docs/python.md says, with no index at all: offline.
    if ! RECUR_LIB=$lib "$tmp/venv/bin/python" -m pip install -q --no-index \
        "$tmp/pkg" >"$tmp/log" 2>&1; then
        echo "FAIL: pip install: $(tail -n 20 "$tmp/log")"
        exit 1
    fi
    "$recur" train "$src/data/tinyshakespeare.txt" --hidden 8 --layers 1 --steps 2 --seq 8 \
        --batch 2 --threads 1 --out "$tmp/m.safetensors" --quiet || exit 1
    # From another directory, with no RECUR_LIB and no source tree in sight.
    cd "$tmp" && env -u RECUR_LIB "$tmp/venv/bin/python" - "$tmp" <<'PYEOF'
import os, sys
import recur
tmp = sys.argv[1]
where = os.path.dirname(recur.__file__)
assert where.startswith(os.path.join(tmp, "venv")), "imported from %s, not the venv" % where
lib = recur.library_path()
assert os.path.dirname(lib) == where, "librecur from %s, not the installed package" % lib
m = recur.load(os.path.join(tmp, "m.safetensors"))
text = m.sample(prime="ROMEO:", length=30, seed=1)
assert len(text) == 30, text
print("ok: installed recur %s in %s, %s; sampled %r" % (recur.__version__, where,
                                                         os.path.basename(lib), text))
PYEOF
    ;;
example)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    RECUR_LIB=$lib "$PY" "$src/examples/python/train_sample_plot.py" --steps 20 --out-dir "$tmp" \
        >"$tmp/log" 2>&1 || { echo "FAIL: the example failed: $(tail -n 20 "$tmp/log")"; exit 1; }
    grep -q "^ROMEO:" "$tmp/log" || { echo "FAIL: no sample in: $(cat "$tmp/log")"; exit 1; }
    [ -s "$tmp/example.safetensors" ] || { echo "FAIL: no checkpoint written"; exit 1; }
    if "$PY" -c 'import matplotlib' 2>/dev/null; then
        [ "$(head -c 4 "$tmp/example.png" | od -An -c | tr -d ' ')" = '211PNG' ] ||
            { echo "FAIL: no PNG written: $(cat "$tmp/log")"; exit 1; }
        echo "ok: sampled and plotted"
    else
        grep -q "matplotlib is not installed" "$tmp/log" || { echo "FAIL: $(cat "$tmp/log")"; exit 1; }
        echo "ok: sampled (python3-matplotlib is not installed: no plot made)"
    fi
    ;;
*)
    echo "usage: python.sh pytest|install|example LIBRECUR RECUR_BINARY SOURCE_DIR" >&2
    exit 2
    ;;
esac
