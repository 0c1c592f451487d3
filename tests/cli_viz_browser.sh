#!/usr/bin/env bash
# cli_viz_browser.sh - a real browser renders `recur viz`'s page: headless
# Chromium (Debian's chromium; .ci/run installs it) loads the file from disk,
# runs its script without an error (the page's window.onerror writes
# #viz-error into the DOM, and Chromium's console log must hold no uncaught
# error; the script's last line marks <body data-viz="ok">), and the rendered
# DOM holds the sections, the unit picker and one coloured span per
# character. A screenshot must not be blank. Exits 77 (skipped) without
# Chromium.
# usage: cli_viz_browser.sh RECUR_BINARY SOURCE_DIR [EXAMPLES_DIR]
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
    echo "skipped: no chromium here (apt-get install chromium; .ci/run installs it)"
    exit 77
fi
if [ -n "${RECUR_VALGRIND:-}" ]; then
    echo "skipped under valgrind: the browser is the slow part, and it ran in the plain and ASan passes"
    exit 77
fi

# Chromium keeps a profile; give it one in $tmp, never the user's.
export HOME=$tmp
chrome() {
    timeout 180 "$browser" --headless --disable-gpu --no-sandbox --no-first-run --user-data-dir="$tmp/profile" \
        --enable-logging=stderr --v=0 --hide-scrollbars "$@"
}

# render PAGE: dumps the DOM after the scripts ran into PAGE.dom (console log in PAGE.log).
render() {
    chrome --dump-dom "file://$1" >"$1.dom" 2>"$1.log"
    [ -s "$1.dom" ] && ok || bad "$1: chromium dumped no DOM: $(tail -n 3 "$1.log")"
    grep -q '<body data-viz="ok"' "$1.dom" && ok || bad "$1: the script did not run to its end"
    if grep -q 'id="viz-error"' "$1.dom"; then bad "$1: $(grep -o 'id="viz-error"[^<]*' "$1.dom")"; else ok; fi
    if grep -Ei 'CONSOLE.*(uncaught|error)' "$1.log"; then bad "$1: console errors"; else ok; fi
}
has() { grep -qF -- "$2" "$1" && ok || bad "$1 lacks '$2'"; }

{
    printf 'He said "go <script>alert(1)</script> now & then" (twice [at least]).\n'
    head -c 2500 "$src/data/tinyshakespeare.txt"
} >"$tmp/text.txt"
for cell in lstm gru; do
    expect 0 "train $cell" -- "$recur" train "$tmp/text.txt" --cell $cell --hidden 20 --layers 2 --steps 30 \
        --seq 32 --batch 8 --eval-every 15 --sample-every 0 --threads 1 --quiet --val-frac 0.1 \
        --out "$tmp/$cell.safetensors" --log "$tmp/$cell.jsonl"
    expect 0 "viz $cell" -- "$recur" viz "$tmp/$cell.safetensors" "$tmp/text.txt" --log "$tmp/$cell.jsonl" \
        --chars 1500 --out "$tmp/$cell.html"
    render "$tmp/$cell.html"
    dom=$tmp/$cell.html.dom
    for id in model curves expects cells saturation samples; do has "$dom" "<section id=\"$id\""; done
    has "$dom" '<table id="ranking">'
    # The curves are drawn: three plots with paths.
    [ "$(grep -o '<div class="plot"><svg' "$dom" | wc -l)" = 3 ] && ok || bad "$cell: not 3 plots"
    # The picker: a layer list filled by the script, a unit number, values.
    [ "$(grep -o '<select id="pick-layer"><option value="[0-9]:[0-9]"' "$dom" | wc -l)" = 1 ] && ok || bad "$cell: empty layer picker"
    has "$dom" '<input id="pick-unit" type="number"'
    # One coloured span per character in the cells view (and in the surprise view).
    # (the cells view's spans carry the value shown, data-v; the surprise view's do not)
    cells=$(grep -o '<span class="ch" data-i="[0-9]*" data-v="-\?[0-9.]*" style="background: rgb([0-9]*, [0-9]*, [0-9]*);' "$dom" | wc -l)
    [ "$cells" = 1500 ] && ok || bad "$cell: $cells coloured spans in the cells view, expected 1500"
    shaded=$(grep -o '<span class="ch" data-i="[0-9]*" style="background: rgb([0-9]*, [0-9]*, [0-9]*);' "$dom" | wc -l)
    [ "$shaded" = 1499 ] && ok || bad "$cell: $shaded shaded spans in the surprise view, expected 1499 (all but the first)"
    [ "$(grep -o '<span class="ch"' "$dom" | wc -l)" = 3000 ] && ok || bad "$cell: not 2 x 1500 character spans"
    # Saturation: a dot per unit and gate (LSTM i, f, o; GRU r, z), 2 layers of 20.
    dots=$(grep -o '<circle cx="[0-9]' "$dom" | wc -l)
    want=$([ $cell = lstm ] && echo 120 || echo 80)
    [ "$dots" = "$want" ] && ok || bad "$cell: $dots saturation dots, expected $want"
    # The text stays text in the rendered page.
    if grep -q '<script>alert' "$dom"; then bad "$cell: the text became a script element"; else ok; fi
done

# The log alone.
expect 0 "viz --log alone" -- "$recur" viz --log "$tmp/lstm.jsonl" --out "$tmp/curves.html"
render "$tmp/curves.html"
[ "$(grep -o '<div class="plot"><svg' "$tmp/curves.html.dom" | wc -l)" = 3 ] && ok || bad "--log alone: not 3 plots"

# A screenshot that is not blank: decode the PNG (zlib, PNG filters) and count
# colours and non-white pixels.
chrome --window-size=1200,1800 --screenshot="$tmp/shot.png" "file://$tmp/lstm.html" >/dev/null 2>&1
if [ ! -s "$tmp/shot.png" ]; then
    bad "no screenshot"
elif command -v python3 >/dev/null; then
    if python3 - "$tmp/shot.png" <<'EOF'; then ok; else bad "blank screenshot"; fi
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n'
pos, idat, w = 8, b'', 0
while pos < len(d):
    n, kind = struct.unpack('>I4s', d[pos:pos + 8])
    body = d[pos + 8:pos + 8 + n]
    if kind == b'IHDR':
        w, h, depth, ctype = struct.unpack('>IIBB', body[:10])
        bpp = {2: 3, 6: 4}[ctype]
    elif kind == b'IDAT':
        idat += body
    pos += 12 + n
raw, stride, prev, colours, ink = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set(), 0
for y in range(h):
    f, row = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = row[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: row[i] = (row[i] + a) & 255
        elif f == 2: row[i] = (row[i] + b) & 255
        elif f == 3: row[i] = (row[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = row
    if y % 4 == 0:
        for x in range(0, w, 2):
            px = bytes(row[x * bpp:x * bpp + 3])
            colours.add(px)
            ink += px != b'\xff\xff\xff'
frac = ink / ((h // 4 + 1) * (w // 2))
print(f"screenshot {w}x{h}: {len(colours)} colours, {100 * frac:.1f} % not white")
sys.exit(0 if len(colours) >= 50 and frac > 0.05 else 1)
EOF
else
    [ "$(wc -c <"$tmp/shot.png")" -gt 30000 ] && ok || bad "screenshot too small to hold the page"
fi

finish
