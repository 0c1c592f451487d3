"""The recur module against the recur binary: the same checkpoint gives the
same samples, losses, classes, tags and translations through both; errors
are recur.Error; objects keep what they wrap alive; nothing leaks."""

import ctypes
import gc
import json
import math
import os
import signal

import pytest

import recur
from conftest import run


# ---------------------------------------------------------------- loading, info

def test_load_info(lm_path):
    m = recur.load(lm_path)
    assert isinstance(m, recur.Model)
    i = m.info
    assert (i.cell, i.hidden, i.layers, i.task, i.steps) == ("lstm", 16, 1, "lm", 8)
    cli = json.loads(run("info", str(lm_path), "--json"))
    assert i.params == cli["params"]
    assert i.vocab_size == len(m.vocab) == cli["vocab_size"]
    assert m.vocab == sorted(m.vocab)
    m.close()
    assert "closed" in repr(m)


def test_errors_are_recur_error(tmp_path, lm_path):
    with pytest.raises(recur.Error) as e:
        recur.load(tmp_path / "missing.safetensors")
    assert e.value.code == recur.EIO and "missing.safetensors" in e.value.message
    (tmp_path / "text.txt").write_text("First Citizen: hear me speak.\n")
    with pytest.raises(recur.Error) as e:
        recur.load(tmp_path / "text.txt")
    assert e.value.code == recur.EFORMAT and "not a safetensors file" in str(e.value)
    m = recur.load(lm_path)
    with pytest.raises(recur.Error) as e:
        m.eval("ROMEO: \u2603 snowman")
    assert e.value.code == recur.EVOCAB
    with pytest.raises(recur.Error) as e:
        m.classify("x")
    assert "not a classify model" in e.value.message


# ---------------------------------------------------------------- language models

def test_sample_matches_cli(lm_path):
    m = recur.load(lm_path)
    for kw, flags in [(dict(seed=3), ["--seed", "3"]),
                      (dict(seed=5, temperature=0.7, top_k=5), ["--seed", "5", "--temperature",
                                                                "0.7", "--top-k", "5"]),
                      (dict(seed=2, top_p=0.9), ["--seed", "2", "--top-p", "0.9"]),
                      (dict(temperature=0), ["--temperature", "0"])]:
        got = m.sample(prime="ROMEO:", length=60, **kw)
        want = run("sample", str(lm_path), "--prime", "ROMEO:", "--length", "60", "--no-echo",
                   *flags)
        assert got == want.rstrip("\n")[:len(got)] and len(got) == 60, kw


def test_sample_int8_matches_cli(lm_path):
    m = recur.load(lm_path)
    got = m.sample(prime="ROMEO:", length=60, seed=3, int8=True)
    want = run("sample", str(lm_path), "--prime", "ROMEO:", "--length", "60", "--no-echo",
               "--seed", "3", "--int8")
    assert got == want.rstrip("\n")[:len(got)] and len(got) == 60
    with pytest.raises(recur.Error) as e:
        m.sample(prime="R", length=5, bf16=True, int8=True)
    assert "choose one" in e.value.message


def test_stream_is_sample(lm_path):
    m = recur.load(lm_path)
    it = m.stream(prime="ROMEO", length=40, seed=9)
    first = next(it)
    assert isinstance(first, str) and len(first) == 1
    assert first + "".join(it) == m.sample(prime="ROMEO", length=40, seed=9)


def test_eval_matches_cli(lm_path, data):
    m = recur.load(lm_path)
    text = (data / "t.txt").read_bytes()[:3000]
    (data / "e.txt").write_bytes(text)
    r = m.eval(text)
    cli = json.loads(run("eval", str(lm_path), str(data / "e.txt"), "--json"))
    assert r.chars == cli["chars"] == len(text) - 1
    assert r.nats_per_char == pytest.approx(cli["nats_per_char"], rel=1e-9)
    assert r.bits_per_char == pytest.approx(r.nats_per_char / math.log(2), rel=1e-12)
    assert m.eval(text.decode()).nats_per_char == r.nats_per_char


def test_sampler_steps_and_probabilities(lm_path):
    m = recur.load(lm_path)
    with m.sampler(seed=4) as s:
        with pytest.raises(recur.Error):
            s.next()  # nothing primed yet
        s.prime("ROMEO:")
        chars = [s.next() for _ in range(20)]
        probs = [s.last_prob]
        assert 0.0 < probs[0] <= 1.0
        s.reset()
        s.prime("ROMEO:")
        assert [s.next() for _ in range(20)] != [] and len(chars) == 20


# ---------------------------------------------------------------- lifetimes

def test_sampler_keeps_model_alive(lm_path):
    m = recur.load(lm_path)
    s = m.sampler(seed=1)
    want = m.sample(prime="A", length=10, seed=1)
    del m
    gc.collect()
    s.prime("A")  # the sampler's model is still there
    assert "".join(s.next() for _ in range(10)) == want


def test_closed_model_closes_samplers(lm_path):
    m = recur.load(lm_path)
    s = m.sampler()
    m.close()
    with pytest.raises(recur.Error, match="closed"):
        s.prime("A")
    with pytest.raises(recur.Error, match="closed"):
        _ = m.info
    m.close()  # twice is fine


def rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_no_leak_over_a_thousand_models(lm_path):
    if "libasan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("under AddressSanitizer RSS measures its quarantine of freed memory; "
                    "the plain build runs this test")
    for _ in range(50):  # warm up allocator and caches
        recur.load(lm_path).close()
    gc.collect()
    before = rss_kb()
    for i in range(1000):
        m = recur.load(lm_path)
        s = m.sampler(seed=i)
        s.prime("A")
        s.next()
        if i % 2:
            m.close()  # explicit for half, garbage collection for the other half
        del m, s
    gc.collect()
    grown = rss_kb() - before
    # A model here is about 30 KB of C memory: a leak of one per iteration is 30 MB.
    assert grown < 8 * 1024, "RSS grew by %d KB over 1000 models" % grown


# ---------------------------------------------------------------- applications

def test_classify_matches_cli(classify_path):
    m = recur.load(classify_path)
    assert m.task == "classify" and sorted(m.labels) == ["Polish", "Russian"]
    texts = ["Petrov", "Nowakski", "Wiśniewski"]
    got = m.classify(texts)
    assert len(got) == 3 and all(abs(sum(p.values()) - 1) < 1e-5 for p in got)
    assert m.classify("Petrov") == got[0]
    lines = run("classify", "predict", str(classify_path), *texts, "--top-k", "2").splitlines()
    for probs, line in zip(got, lines):
        w = line.split()
        cli = {w[0]: float(w[1]), w[2]: float(w[3])}
        assert max(probs, key=probs.get) == w[0]
        for label, p in cli.items():
            assert probs[label] == pytest.approx(p, abs=6e-5)


def test_tag_matches_cli(tag_path):
    m = recur.load(tag_path)
    assert m.task == "tag"
    sentences = ["we saw 12345 cats", "the 7"]
    got = m.tag(sentences)
    want = run("tag", "predict", str(tag_path), stdin="\n".join(sentences) + "\n").splitlines()
    assert [" ".join(t) for t in got] == want
    assert m.tag([["we", "saw", "12345", "cats"]]) == [got[0]]  # a sentence as tokens
    assert m.tag("the 7") == got[1]


def test_translate_matches_cli(seq2seq_path):
    m = recur.load(seq2seq_path)
    assert isinstance(m, recur.Seq2Seq) and m.info.attention and m.info.hidden == 8
    sources = ["abcdef", "hgf", "a"]
    for beam in (1, 3):
        got = m.translate(sources, beam=beam)
        want = run("seq2seq", "predict", str(seq2seq_path), "--beam", str(beam),
                   stdin="\n".join(sources) + "\n").split("\n")[:3]
        assert got == want
    assert m.translate("abcdef") == m.translate(["abcdef"])[0]


# ---------------------------------------------------------------- training

def test_train_with_callback(data, tmp_path):
    events = []
    out = tmp_path / "m.safetensors"
    m = recur.train(data / "t.txt", out=out, cell="gru", hidden=12, layers=1, steps=6, seq=16,
                    batch=4, threads=1, sample_every=3, sample_len=20, callback=events.append)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds.count("step") == 6 and "sample" in kinds
    assert [e.step for e in events if e.kind == "step"] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(e, recur.TrainEvent) and e.total_steps == 6 for e in events)
    sample = next(e for e in events if e.kind == "sample")
    assert isinstance(sample.text, str) and len(sample.text) > 0
    assert all(math.isfinite(e.train_loss) for e in events if e.kind == "step")
    assert m.info.steps == 6 and m.info.cell == "gru"
    assert out.exists() and recur.load(out).info.hidden == 12


def test_train_dropout_variants(data, tmp_path):
    out = tmp_path / "d.safetensors"
    m = recur.train(data / "t.txt", out=out, cell="lstm", hidden=8, layers=2, embed=4, steps=4,
                    seq=8, batch=2, threads=1, dropout=0.2, dropout_in=0.1, dropout_out=0.3,
                    variational=True)
    for i in (m.info, recur.load(out).info):
        assert (i.dropout_in, i.dropout_out, i.variational) == (pytest.approx(0.1), pytest.approx(0.3), True)
    with pytest.raises(recur.Error, match="embedding"):
        recur.train(data / "t.txt", out=tmp_path / "e.safetensors", steps=1, dropout_in=0.1)


def test_train_bf16(data, tmp_path):
    # bf16 mixed precision: a run near the fp32 one (exactly it where the CPU
    # lacks AVX512-BF16), repeatable, saved in fp32.
    kw = dict(cell="lstm", hidden=24, layers=2, steps=8, seq=16, batch=4, threads=1, eval_every=4)
    f = recur.train(data / "t.txt", out=tmp_path / "f.safetensors", **kw)
    b = recur.train(data / "t.txt", out=tmp_path / "b.safetensors", bf16=True, **kw)
    b2 = recur.train(data / "t.txt", out=tmp_path / "b2.safetensors", bf16=True, **kw)
    assert isinstance(recur.has_bf16(), bool)
    text = (data / "t.txt").read_text()[:2000]
    lf, lb, lb2 = (m.eval(text).nats_per_char for m in (f, b, b2))
    assert lb == lb2
    assert abs(lb - lf) / lf < 0.02
    if not recur.has_bf16():
        assert lb == lf
    assert b"BF16" not in (tmp_path / "b.safetensors").read_bytes()[:4096]


def test_train_recompute(data, tmp_path):
    # recompute: the gates made again in the backward (windows of 2048 rows:
    # two chunks); the same model up to rounding, repeatable, and the setting
    # reaches the library (recur.train in the saved model's header says so).
    kw = dict(cell="gru", hidden=24, layers=2, steps=4, seq=64, batch=32, threads=1, eval_every=2)
    k = recur.train(data / "t.txt", out=tmp_path / "k.safetensors", **kw)
    r = recur.train(data / "t.txt", out=tmp_path / "r.safetensors", recompute=True, **kw)
    r2 = recur.train(data / "t.txt", out=tmp_path / "r2.safetensors", recompute=True, **kw)
    text = (data / "t.txt").read_text()[:2000]
    lk, lr, lr2 = (m.eval(text).nats_per_char for m in (k, r, r2))
    assert lr == lr2
    assert abs(lr - lk) / lk < 0.005
    assert b'"recompute":1' in (tmp_path / "r.safetensors").read_bytes()[:8192].replace(b'\\', b'')
    assert b"recompute" not in (tmp_path / "k.safetensors").read_bytes()[:8192]


def test_callback_returning_true_stops(data, tmp_path):
    out = tmp_path / "m.safetensors"
    seen = []

    def cb(ev):
        seen.append(ev.step)
        return ev.kind == "step" and ev.step == 3
    m = recur.train(data / "t.txt", out=out, hidden=8, layers=1, steps=50, seq=8, batch=2,
                    threads=1, callback=cb)
    assert max(seen) == 3 and m.info.steps == 3
    assert (tmp_path / "m.last.safetensors").exists()


@pytest.mark.parametrize("how", ["raise", "signal"])
def test_keyboard_interrupt_saves_resumable_state(data, tmp_path, how):
    out = tmp_path / "m.safetensors"
    last = tmp_path / "m.last.safetensors"

    def cb(ev):
        if ev.kind == "step" and ev.step == 4:
            if how == "raise":
                raise KeyboardInterrupt
            os.kill(os.getpid(), signal.SIGINT)  # as Ctrl-C in a terminal or notebook
    with pytest.raises(KeyboardInterrupt):
        recur.train(data / "t.txt", out=out, hidden=8, layers=1, steps=20, seq=8, batch=2,
                    threads=1, callback=cb)
    assert last.exists()
    saved = recur.load(last).info.steps
    assert 4 <= saved <= 5
    # Resuming finishes the run exactly where an uninterrupted one would be.
    steps = []
    m = recur.train(data / "t.txt", out=out, resume=last, steps=20, seq=8, batch=2, threads=1,
                    callback=lambda ev: steps.append(ev.step) if ev.kind == "step" else None)
    assert steps[0] == saved + 1 and steps[-1] == 20 and m.info.steps == 20
    ref = recur.train(data / "t.txt", out=tmp_path / "ref.safetensors", hidden=8, layers=1,
                      steps=20, seq=8, batch=2, threads=1)
    assert m.eval("ROMEO: hear me").nats_per_char == ref.eval("ROMEO: hear me").nats_per_char


def test_callback_exception_propagates(data, tmp_path):
    def cb(ev):
        if ev.kind == "step":
            raise ValueError("boom")
    with pytest.raises(ValueError, match="boom"):
        recur.train(data / "t.txt", out=tmp_path / "m.safetensors", hidden=8, layers=1,
                    steps=5, seq=8, batch=2, threads=1, callback=cb)


def test_train_errors(tmp_path):
    with pytest.raises(recur.Error) as e:
        recur.train(tmp_path / "none.txt", out=tmp_path / "m.safetensors", steps=1)
    assert e.value.code == recur.EIO
    (tmp_path / "a.txt").write_text("abc" * 100)
    with pytest.raises(recur.Error, match="cell"):
        recur.train(tmp_path / "a.txt", out=tmp_path / "m.safetensors", cell="transformer")


def test_library_location(tmp_path, lm_path):
    import subprocess
    import sys
    code = ("import recur\n"
            "try:\n"
            "    recur.load(%r)\n"
            "except recur.Error as e:\n"
            "    print(e.code, e.message)\n" % str(lm_path))
    env = dict(os.environ, RECUR_LIB=str(tmp_path / "nowhere" / "librecur.so"),
               PYTHONPATH=os.path.dirname(os.path.dirname(recur.__file__)))
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert p.stdout.startswith("%d RECUR_LIB=" % recur.EIO) and "nowhere" in p.stdout, p
    # The library in use is the one RECUR_LIB named (python.sh sets it to the build's).
    if os.environ.get("RECUR_LIB"):
        assert os.path.realpath(recur.library_path()) == os.path.realpath(os.environ["RECUR_LIB"])


def test_struct_layouts_match_the_library():
    """Every struct the module lays out has the library's size (a field added
    in C alone would let the library write past a Python-made struct)."""
    from recur import _lib as L
    lib = recur._lib.lib()
    for cname, py in L._LAYOUTS.items():
        assert lib.recur_sizeof(cname.encode()) == ctypes.sizeof(py), cname
    assert lib.recur_sizeof(b"no_such_struct") == 0


def test_train_schedule_and_metric_free_events(data, tmp_path):
    """A cosine schedule with warm-up reaches the trainer: the rate rises over
    the warm-up, then falls; a language model's events carry no metric."""
    lrs, metrics = [], set()

    def cb(ev):
        if ev.kind == "step":
            lrs.append(ev.lr)
        metrics.add(ev.metric)
    recur.train(data / "t.txt", tmp_path / "c.safetensors", hidden=16, layers=1, seq=16, batch=4, steps=30,
                eval_every=10, schedule="cosine", warmup=5, lr=0.01, lr_min=0.001, callback=cb)
    assert len(lrs) == 30
    assert lrs[0] == pytest.approx(0.002) and lrs[4] == pytest.approx(0.01)
    assert all(a > b for a, b in zip(lrs[5:], lrs[6:]))
    assert lrs[-1] > 0.001 and lrs[-1] < 0.0015
    assert metrics == {None}
    with pytest.raises(recur.Error):
        recur.train(data / "t.txt", tmp_path / "d.safetensors", steps=2, schedule="linear")


def test_trace_is_the_models_numbers(lm_path, data):
    """Model.trace: the arrays have the model's shape, and the probability each
    step gave the next character is the one eval averages (the same pass)."""
    np = pytest.importorskip("numpy")
    m = recur.load(lm_path)
    text = (data / "t.txt").read_text()[:300]
    tr = m.trace(text)
    T = len(tr.chars)
    assert "".join(tr.chars) == text and tr.skipped == 0
    h = tr.values["h"]
    assert h.shape == (m.info.layers, 1, T, m.info.hidden)
    assert tr.probs.shape == (T, m.info.vocab_size)
    assert np.allclose(tr.probs.sum(axis=1), 1, atol=1e-4)
    vocab = m.vocab
    nll = -np.mean([np.log(tr.probs[t][vocab.index(tr.chars[t + 1])]) for t in range(T - 1)])
    assert nll == pytest.approx(m.eval(text).nats_per_char, rel=1e-5)
    if m.info.cell == "lstm":
        assert set(tr.values) == {"h", "c", "i", "f", "g", "o"}
    # |h| <= 1 for tanh cells, gates in [0, 1]
    assert np.all(np.abs(h) <= 1 + 1e-6)
    for g in ("i", "f", "o", "r", "z"):
        if g in tr.values:
            assert tr.values[g].min() >= 0 and tr.values[g].max() <= 1
    assert len(m.trace(text, max_chars=10).chars) == 10
    with pytest.raises(recur.Error):
        m.trace("")
