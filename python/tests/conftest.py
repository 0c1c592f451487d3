"""Fixtures shared by the tests: the recur binary (RECUR_BINARY, or the
build next to the source tree), the source tree, and small models trained
once per session with the CLI (every training uses --threads 1 and a few
steps, the machine is shared)."""

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SRC, "python"))


def recur_binary():
    return os.environ.get("RECUR_BINARY") or os.path.join(SRC, "build", "recur")


def run(*args, stdin=None):
    """Runs the recur binary; returns its stdout (a failure fails the test)."""
    p = subprocess.run([recur_binary(), *args], input=stdin, capture_output=True, text=True)
    assert p.returncode == 0, "recur %s: %s" % (" ".join(args), p.stderr)
    return p.stdout


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("data")
    with open(os.path.join(SRC, "data", "tinyshakespeare.txt"), "rb") as f:
        (d / "t.txt").write_bytes(f.read(20000))
    return d


@pytest.fixture(scope="session")
def lm_path(data):
    out = data / "lm.safetensors"
    run("train", str(data / "t.txt"), "--cell", "lstm", "--hidden", "16", "--layers", "1",
        "--steps", "8", "--seq", "16", "--batch", "4", "--threads", "1", "--out", str(out),
        "--quiet")
    return out


@pytest.fixture(scope="session")
def classify_path(data):
    with open(data / "names.tsv", "w") as f:
        for i in range(1, 41):
            f.write("Russian\tB%xaov\nPolish\tK%xeski\n" % (i * 7919 % 4093, i * 104729 % 4093))
    out = data / "c.safetensors"
    run("classify", "train", str(data / "names.tsv"), "--hidden", "8", "--embed", "4",
        "--epochs", "1", "--threads", "1", "--out", str(out), "--quiet")
    return out


@pytest.fixture(scope="session")
def tag_path(data):
    with open(data / "tag.tsv", "w") as f:
        for i in range(1, 21):
            f.write("the\tWORD\n%d\tNUM\ncats\tWORD\n\nwe\tWORD\nsaw\tWORD\n%d\tNUM\n\n"
                    % (i * 37, i * 91))
    out = data / "t.safetensors"
    run("tag", "train", str(data / "tag.tsv"), "--hidden", "8", "--layers", "1", "--embed", "4",
        "--epochs", "1", "--threads", "1", "--out", str(out), "--quiet")
    return out


@pytest.fixture(scope="session")
def seq2seq_path(data):
    pairs = run("seq2seq", "generate", "reverse", "--n", "200")
    (data / "rev.tsv").write_text(pairs)
    out = data / "s.safetensors"
    run("seq2seq", "train", str(data / "rev.tsv"), "--hidden", "8", "--steps", "5",
        "--threads", "1", "--attention", "--out", str(out), "--quiet")
    return out
