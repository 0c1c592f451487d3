#!/usr/bin/env python3
"""EWT word classes: a text-classification set built from data recur ships.

Every distinct word form of data/ud_english_ewt (train, dev and test together)
becomes one example, labelled with the universal part-of-speech tag (UPOS,
column 2) it carries most often in the treebank; a tie goes to the tag that
sorts first. The task is to guess a word's part of speech from its spelling
alone ("running" -> VERB, "quickly" -> ADV, "Smith" -> PROPN, "42" -> NUM).

Output: one `UPOS<TAB>form` line per distinct form, sorted by the form's UTF-8
bytes, which `recur classify train FILE` reads as label<TAB>text lines. The
output is a function of the three input files only (no randomness), so any
two runs write the same bytes.

usage: bench/make_ewt_words.py [EWT_DIR] > ewt-words.tsv
       (EWT_DIR defaults to data/ud_english_ewt beside this script's parent)
"""
import os
import sys
from collections import defaultdict


def read_counts(paths):
    """{form: {upos: count}} over the token lines of the CoNLL-style files."""
    counts = defaultdict(lambda: defaultdict(int))
    for path in paths:
        with open(path, encoding="utf-8", newline="\n") as f:
            for line in f:
                line = line.rstrip("\n").rstrip("\r")
                if not line.strip(" \t"):
                    continue  # the blank line after a sentence
                if line.startswith("#") and "\t" not in line:
                    continue  # a comment (recur's tag_read skips these too)
                cols = line.split("\t")
                if len(cols) < 2 or not cols[0] or not cols[1]:
                    sys.exit(f"{path}: malformed token line: {line!r}")
                counts[cols[0]][cols[1]] += 1
    return counts


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ewt = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "data", "ud_english_ewt")
    paths = [os.path.join(ewt, f"{s}.tsv") for s in ("train", "dev", "test")]
    counts = read_counts(paths)
    out = sys.stdout.buffer
    for form in sorted(counts, key=lambda w: w.encode("utf-8")):
        tags = counts[form]
        # the highest count; among equal counts the tag that sorts first
        best = min(tags, key=lambda t: (-tags[t], t.encode("utf-8")))
        # recur trims spaces, TABs and CRs around a text; keep such forms out
        # rather than have the two engines see different strings
        if form != form.strip(" \t\r"):
            continue
        out.write(f"{best}\t{form}\n".encode("utf-8"))


if __name__ == "__main__":
    main()
