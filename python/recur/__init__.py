"""recur - recurrent neural networks (RNN, LSTM, GRU) for text, from Python.

A pure-Python module over librecur.so (ctypes; nothing to compile):

    import recur
    m = recur.load("shakespeare.safetensors")
    print(m.info)
    print(m.sample(prime="ROMEO:", length=200, temperature=0.8, seed=1))
    for ch in m.stream(prime="ROMEO:", length=200):   # one character at a time
        print(ch, end="", flush=True)
    print(m.eval("To be, or not to be").bits_per_char)
    m = recur.train("input.txt", out="m.safetensors", cell="lstm", hidden=64,
                    steps=500, callback=lambda ev: print(ev.step, ev.train_loss))

Application models: Model.classify(texts), Model.tag(sentences), and
Seq2Seq.translate(sources, beam=...) (recur.load gives a Seq2Seq for a
`recur seq2seq train` checkpoint). Errors are recur.Error (message, code).
PyTorch (when installed): Model.to_torch(), recur.from_torch(module, vocab).
Where librecur.so is looked for: recur._lib (RECUR_LIB first); docs/python.md.
"""

from ._core import (EFORMAT, EINTERRUPT, EINVAL, EIO, ENOMEM, ENUMERIC, EVOCAB, OK, Error,
                    EvalResult, Model, ModelInfo, Sampler, Seq2Seq, Seq2SeqInfo, Trace, TrainEvent, load,
                    train)

__version__ = "0.1.0"

__all__ = ["Error", "EvalResult", "Model", "ModelInfo", "Sampler", "Seq2Seq", "Seq2SeqInfo",
           "Trace", "TrainEvent", "load", "train", "from_torch", "has_bf16", "library_path", "OK", "EINVAL", "ENOMEM",
           "EIO", "EFORMAT", "EVOCAB", "ENUMERIC", "EINTERRUPT"]


def from_torch(module, vocab, path=None, *, bytes=False, task="lm", labels=None, relu=None):
    """A recur Model with the weights of a PyTorch module {embed?, rnn, head}
    (recur.pytorch.CharRNN, or any module with those names and shapes) over
    vocab (a list of characters in id order, or a str of them). It is
    written to `path` as a checkpoint (a temporary file when None) and
    loaded. task/labels: for an application model (classify, tag, condlm).
    Needs torch."""
    from . import pytorch
    return pytorch.from_torch(module, vocab, path, bytes=bytes, task=task, labels=labels,
                              relu=relu)


def has_bf16() -> bool:
    """Whether this CPU runs bf16 products (AVX512-BF16), so train(bf16=True)
    takes effect (elsewhere it trains in fp32)."""
    from . import _lib
    return bool(_lib.lib().recur_has_bf16())


def library_path() -> str:
    """The librecur.so this module uses (loading it if needed)."""
    from . import _lib
    return _lib.path()
