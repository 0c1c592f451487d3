"""PyTorch interop: Model.to_torch() and recur.from_torch() against each
other and against recur's own numbers. Skipped, with the reason shown by
`pytest -rs`, where python3-torch is not installed."""

import pytest

torch = pytest.importorskip("torch", reason="python3-torch is not installed: "
                            "to_torch/from_torch untested here")

import recur  # noqa: E402
from recur import pytorch  # noqa: E402

TEXT = "ROMEO: Is the day so young?\nBENVOLIO: But new struck nine.\n"


def torch_nats(module, vocab, text):
    ids = [vocab.index(c) for c in text]
    return pytorch.eval_ids(module, ids)[1]


def test_to_torch_computes_what_recur_does(lm_path):
    m = recur.load(lm_path)
    mod = m.to_torch()
    assert isinstance(mod, torch.nn.Module) and isinstance(mod.rnn, torch.nn.LSTM)
    assert sum(p.numel() for p in mod.parameters()) == m.info.params
    assert mod.recur_config["vocab"] == m.vocab
    assert torch_nats(mod, m.vocab, TEXT) == pytest.approx(m.eval(TEXT).nats_per_char, rel=1e-5)


@pytest.mark.parametrize("cell,embed,relu", [("gru", 0, False), ("lstm", 5, False),
                                             ("rnn", 0, True)])
def test_from_torch_computes_what_torch_does(cell, embed, relu, tmp_path):
    vocab = sorted(set(TEXT))
    torch.manual_seed(3)
    mod = pytorch.CharRNN(cell, len(vocab), hidden=10, layers=2, embed=embed, relu=relu)
    m = recur.from_torch(mod, vocab)
    assert m.info.cell == cell and m.info.hidden == 10 and m.info.layers == 2
    assert m.info.embed == embed and m.info.relu == relu and m.vocab == vocab
    assert m.eval(TEXT).nats_per_char == pytest.approx(torch_nats(mod, vocab, TEXT), rel=1e-5)
    # Written where asked, too.
    m2 = recur.from_torch(mod, "".join(vocab), tmp_path / "x.safetensors")
    assert (tmp_path / "x.safetensors").exists() and m2.eval(TEXT) == m.eval(TEXT)


def test_round_trip_keeps_the_model(lm_path):
    m = recur.load(lm_path)
    back = recur.from_torch(m.to_torch(), m.vocab)
    assert back.eval(TEXT) == m.eval(TEXT)
    assert back.sample(prime="ROMEO", length=50, seed=7) == m.sample(prime="ROMEO", length=50,
                                                                     seed=7)


def test_classifier_round_trip(classify_path):
    m = recur.load(classify_path)
    mod = m.to_torch()
    cfg = mod.recur_config
    texts = ["Petrov", "Nowakski"]
    ref = pytorch.classify_texts(mod, cfg, texts)
    got = m.classify(texts)
    for probs, r in zip(got, ref):
        assert [probs[label] for label in m.labels] == pytest.approx(r, abs=1e-5)
    back = recur.from_torch(mod, cfg["vocab"], task="classify", labels=cfg["labels"])
    assert back.task == "classify" and back.classify(texts) == got


def test_from_torch_errors():
    vocab = list("abc")
    mod = pytorch.CharRNN("gru", 4, hidden=4, layers=1)  # 4 outputs for 3 characters
    with pytest.raises(recur.Error, match="head has 4 outputs"):
        recur.from_torch(mod, vocab)
    with pytest.raises(recur.Error, match="ascending"):
        recur.from_torch(pytorch.CharRNN("gru", 3, hidden=4, layers=1), list("cba"))
