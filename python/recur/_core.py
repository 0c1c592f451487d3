"""recur._core - the Python objects over librecur's handles.

Lifetimes: each Python object owns one C object and frees it in close() (or
when it is garbage-collected). An object that needs another keeps a
reference to it: a Sampler holds its Model, so the model's C object lives as
long as any sampler on it; closing a model explicitly closes its samplers
first, and any later call on them raises recur.Error instead of touching
freed memory.
"""

import ctypes
import json
import os
import signal
import struct
import threading
import weakref
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence, Union

from . import _lib as L

# recur_status (recur.h)
OK, EINVAL, ENOMEM, EIO, EFORMAT, EVOCAB, ENUMERIC, EINTERRUPT = 0, -1, -2, -3, -4, -5, -6, -7
CELLS = ("rnn", "lstm", "gru")
TASKS = ("lm", "classify", "tag", "condlm")
EVENTS = ("start", "step", "eval", "sample", "save", "skip")
OPTIMS = ("adam", "adagrad", "rmsprop", "sgd")
SCHEDULES = ("step", "constant", "cosine", "plateau")  # recur_schedule, in its order
TRACE_VALUES = 9  # RECUR_TRACE_NVALUES

PathLike = Union[str, "os.PathLike[str]"]


class Error(Exception):
    """An error from librecur (or from this module's checks of its arguments).

    message: the library's one-line message; code: its recur_status, a
    negative number (recur.EINVAL, EIO, EFORMAT, EVOCAB, ...)."""

    def __init__(self, message: str, code: int = EINVAL):
        super().__init__(message)
        self.message = message
        self.code = code

    def __repr__(self) -> str:
        return "recur.Error(%r, code=%d)" % (self.message, self.code)


def _check(rc: int, err: L.Err) -> None:
    if rc != OK:
        msg = err.msg.decode("utf-8", "replace")
        if not msg:
            msg = L.lib().recur_strerror(rc).decode()
        raise Error(msg, rc)


def _bytes(text: Union[str, bytes]) -> bytes:
    if isinstance(text, bytes):
        return text
    if isinstance(text, str):
        return text.encode("utf-8")
    raise TypeError("expected str or bytes, got %s" % type(text).__name__)


def _path(p: PathLike) -> bytes:
    return os.fsencode(os.fspath(p))


# ---------------------------------------------------------------- info records

@dataclass(frozen=True)
class ModelInfo:
    """What recur_model_get_info says of a model, plus its task and labels."""
    cell: str
    relu: bool
    hidden: int
    layers: int
    embed: int
    vocab_size: int
    dropout: float
    params: int
    steps: int
    best_val: float  # nats/char; NaN if none recorded
    task: str = "lm"
    labels: List[str] = field(default_factory=list)
    outputs: int = 0     # rows of the head: vocab_size for a language model, else labels
    directions: int = 1  # 2 when bidirectional
    cond: int = 0        # conditioning classes (condlm)
    dropout_in: float = 0.0   # on the input embedding
    dropout_out: float = 0.0  # on the last layer's output, before the head
    variational: bool = False  # the same masks at every step of a window
    tie: bool = False          # the head's weight is the embedding


@dataclass(frozen=True)
class EvalResult:
    """The loss of a language model on a text (recur_eval_text)."""
    chars: int
    skipped: int
    nats_per_char: float
    bits_per_char: float


@dataclass(frozen=True)
class Seq2SeqInfo:
    """What recur_seq2seq_get_info says of an encoder-decoder."""
    cell: str
    hidden: int
    layers: int
    embed: int
    dropout: float
    attention: bool
    src_vocab: int
    tgt_vocab: int
    params: int
    steps: int
    best_val: float
    best_exact: float
    dropout_in: float = 0.0
    dropout_out: float = 0.0
    variational: bool = False


@dataclass(frozen=True)
class Trace:
    """What Model.trace() saw: the characters read (one per step), the
    values per name ("h", "c", "i", ...) as [layers, directions, steps,
    hidden] arrays, the output distribution per step [steps, outputs], and
    how many characters were skipped."""
    chars: List[str]
    values: dict
    probs: object
    skipped: int


@dataclass(frozen=True)
class TrainEvent:
    """One event of a training run (recur_train_event), passed to train()'s
    callback. kind: "start", "step", "eval", "sample", "save" or "skip";
    losses in nats/char (val_loss NaN before the first validation); text:
    the sample (kind "sample") or the path written (kind "save")."""
    kind: str
    step: int
    total_steps: int
    epoch: float
    train_loss: float
    val_loss: float
    best_val: float
    lr: float
    grad_norm: float
    chars_per_s: float
    elapsed_s: float
    train_chars: int
    val_chars: int
    text: Optional[str]
    val_metric: float = float("nan")
    best_metric: float = float("nan")
    metric: Optional[str] = None


# ---------------------------------------------------------------- the model

class Model:
    """A recur model: a language model, or an application's (classify, tag,
    condlm). Made by recur.load() or recur.train(); free it with close() or
    a `with` block (or let it be collected)."""

    def __init__(self, handle: int, path: Optional[str] = None):
        self._h: Optional[int] = handle
        self.path = path
        self._samplers: "weakref.WeakSet[Sampler]" = weakref.WeakSet()

    # -- lifetime
    def _handle(self) -> int:
        if not self._h:
            raise Error("the model is closed", EINVAL)
        return self._h

    def close(self) -> None:
        """Frees the C model (and closes every sampler on it). Idempotent."""
        if self._h:
            for s in list(self._samplers):
                s.close()
            L.lib().recur_model_free(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- description
    @property
    def info(self) -> ModelInfo:
        """The architecture, size and training record of the model."""
        lib, h = L.lib(), self._handle()
        i = L.ModelInfo()
        lib.recur_model_get_info(h, ctypes.byref(i))
        return ModelInfo(cell=CELLS[i.cell], relu=bool(i.relu), hidden=i.hidden, layers=i.layers,
                         embed=i.embed, vocab_size=i.vocab_size, dropout=i.dropout,
                         params=i.params, steps=i.steps, best_val=i.best_val, task=self.task,
                         labels=self.labels, outputs=i.outputs, directions=i.directions, cond=i.cond,
                         dropout_in=i.dropout_in, dropout_out=i.dropout_out,
                         variational=bool(i.variational), tie=bool(i.tie))

    @property
    def task(self) -> str:
        """"lm", "classify", "tag" or "condlm"."""
        return TASKS[L.lib().recur_model_task(self._handle())]

    @property
    def labels(self) -> List[str]:
        """The classes (classify, condlm) or tags (tag), in id order; [] for a language model."""
        lib, h = L.lib(), self._handle()
        return [lib.recur_model_label(h, i).decode("utf-8")
                for i in range(lib.recur_model_label_count(h))]

    @property
    def vocab(self) -> List[str]:
        """The characters (or, for a byte model, the bytes as characters) in id order."""
        lib = L.lib()
        v = lib.recur_model_vocab(self._handle())
        return [chr(lib.recur_vocab_char(v, i)) for i in range(lib.recur_vocab_size(v))]

    def __repr__(self) -> str:
        if not self._h:
            return "<recur.Model (closed)>"
        i = self.info
        return "<recur.Model %s %s H=%d L=%d V=%d, %d params>" % (
            i.task, i.cell, i.hidden, i.layers, i.vocab_size, i.params)

    def save(self, path: PathLike) -> None:
        """Writes the model (no optimizer state) atomically."""
        err = L.Err()
        _check(L.lib().recur_model_save(self._handle(), _path(path), ctypes.byref(err)), err)

    # -- language models
    def sampler(self, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                seed: int = 1, threads: int = 1, bf16: bool = False,
                label: Optional[str] = None, int8: bool = False) -> "Sampler":
        """A generator of characters over this model (recur_sampler_new); see Sampler.
        label: for a condlm model, the class to write for. int8: weights quantized
        to int8 (faster on large models, probabilities within 0.1; not with bf16)."""
        return Sampler(self, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                       threads=threads, bf16=bf16, label=label, int8=int8)

    def stream(self, prime: str = "\n", length: int = 500, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, seed: int = 1, threads: int = 1,
               bf16: bool = False, label: Optional[str] = None, int8: bool = False) -> Iterator[str]:
        """Yields `length` generated characters one at a time (each a str of
        one character, or of one byte for a byte model), after feeding `prime`."""
        s = self.sampler(temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                         threads=threads, bf16=bf16, label=label, int8=int8)
        try:
            s.prime(prime)
            for _ in range(length):
                yield s.next()
        finally:
            s.close()

    def sample(self, prime: str = "\n", length: int = 500, temperature: float = 1.0,
               top_k: int = 0, top_p: float = 1.0, seed: int = 1, threads: int = 1,
               bf16: bool = False, label: Optional[str] = None, int8: bool = False) -> str:
        """`length` characters generated after `prime` (the prime not included),
        as `recur sample` draws them: temperature 0 is greedy; top_k and
        top_p restrict the draw. The same seed gives the same text."""
        return "".join(self.stream(prime=prime, length=length, temperature=temperature,
                                   top_k=top_k, top_p=top_p, seed=seed, threads=threads,
                                   bf16=bf16, label=label, int8=int8))

    def eval(self, text: Union[str, bytes], skip_unknown: bool = False,
             threads: int = 1) -> EvalResult:
        """The mean loss of predicting each character of text from the ones
        before it (the state carried through), in nats and bits per character.
        A character outside the vocabulary raises Error (code EVOCAB) unless
        skip_unknown."""
        data = _bytes(text)
        err, res = L.Err(), L.EvalResult()
        _check(L.lib().recur_eval_text(self._handle(), data, len(data), int(skip_unknown),
                                       threads, ctypes.byref(res), ctypes.byref(err)), err)
        return EvalResult(res.chars, res.skipped, res.nats_per_char, res.bits_per_char)

    def trace(self, text: Union[str, bytes], skip_unknown: bool = False, gates: bool = True,
              threads: int = 1, max_chars: int = 0) -> "Trace":
        """Runs the model over text from the zero state (as eval does) and
        returns every step's values as numpy arrays (recur_trace_text): for
        each of "h", "c" (LSTM), the gates ("i", "f", "g", "o" for LSTM; "r",
        "z", "n" for GRU) an array [layers, directions, steps, hidden], and
        the output distribution after each step, [steps, outputs]. Step t
        reads the t-th character; probs[t] is the distribution over what
        comes after it (a language model) or over the labels."""
        import numpy as np
        lib = L.lib()
        data = _bytes(text)
        cfg = L.TraceConfig()
        lib.recur_trace_config_default(ctypes.byref(cfg))
        cfg.skip_unknown, cfg.gates, cfg.threads, cfg.max_chars = int(skip_unknown), int(gates), threads, max_chars
        err, tr = L.Err(), ctypes.c_void_p()
        _check(lib.recur_trace_text(self._handle(), data, len(data), ctypes.byref(cfg), ctypes.byref(tr),
                                    ctypes.byref(err)), err)
        try:
            T, layers = lib.recur_trace_steps(tr), lib.recur_trace_layers(tr)
            D, H, O = lib.recur_trace_directions(tr), lib.recur_trace_hidden(tr), lib.recur_trace_outputs(tr)
            values = {}
            for v in range(TRACE_VALUES):
                if not lib.recur_trace_get(tr, v, 0, 0, 0):
                    continue  # not this cell's (or the gates were not kept)
                a = np.empty((layers, D, T, H), np.float32)
                for l in range(layers):
                    for d in range(D):
                        for t in range(T):
                            a[l, d, t] = np.ctypeslib.as_array(lib.recur_trace_get(tr, v, t, l, d), (H,))
                values[lib.recur_trace_value_name(v).decode()] = a
            probs = np.empty((T, O), np.float32)
            for t in range(T):
                p = lib.recur_trace_probs(tr, t)
                if p:
                    probs[t] = np.ctypeslib.as_array(p, (O,))
            chars, off, nb = [], ctypes.c_size_t(), ctypes.c_int()
            for t in range(T):
                lib.recur_trace_char(tr, t, ctypes.byref(off), ctypes.byref(nb))
                chars.append(data[off.value:off.value + nb.value].decode("utf-8", "replace"))
            return Trace(chars, values, probs, int(lib.recur_trace_skipped(tr)))
        finally:
            lib.recur_trace_free(tr)

    # -- applications
    def _need(self, task: str) -> None:
        if self.task != task:
            raise Error("this is a %s model, not a %s model" % (self.task, task), EINVAL)

    def classify(self, texts: Union[str, Sequence[str]]) -> Union[dict, List[dict]]:
        """The probability of each label for each text, as {label: p}
        (recur_classify). A single str gives one dict; a sequence, a list."""
        self._need("classify")
        single = isinstance(texts, str)
        labels = self.labels
        probs = (ctypes.c_float * len(labels))()
        out = []
        for t in [texts] if single else texts:
            data, err = _bytes(t), L.Err()
            _check(L.lib().recur_classify(self._handle(), data, len(data), probs,
                                          ctypes.byref(err)), err)
            out.append(dict(zip(labels, (float(p) for p in probs))))
        return out[0] if single else out

    def tag(self, sentences: Union[str, Sequence[Union[str, Sequence[str]]]]
            ) -> Union[List[str], List[List[str]]]:
        """The tag of every token (recur_tag). A sentence is a str (split at
        whitespace) or a list of tokens. A single str gives its list of tags;
        a list of sentences gives a list of them (so one sentence given as
        tokens is [tokens])."""
        self._need("tag")
        single = isinstance(sentences, str)
        labels = self.labels
        out = []
        for s in [sentences] if single else sentences:
            tokens = [_bytes(t) for t in (s.split() if isinstance(s, str) else s)]
            n = len(tokens)
            if n == 0:
                out.append([])
                continue
            toks = (ctypes.c_char_p * n)(*tokens)
            lens = (ctypes.c_size_t * n)(*(len(t) for t in tokens))
            tags = (ctypes.c_int * n)()
            err = L.Err()
            _check(L.lib().recur_tag(self._handle(), toks, lens, n, tags, ctypes.byref(err)), err)
            out.append([labels[i] for i in tags])
        return out[0] if single else out

    def translate(self, sources, beam: int = 1):
        """Only encoder-decoder models translate (recur.load of a seq2seq checkpoint)."""
        raise Error("this is a %s model; translate() is for seq2seq models" % self.task, EINVAL)

    # -- PyTorch
    def to_torch(self):
        """The equivalent PyTorch module (recur.pytorch.CharRNN) with this
        model's weights loaded, in eval mode. Needs torch, and a model that
        came from a file (it is saved to a temporary one first otherwise)."""
        from . import pytorch
        return pytorch.model_to_torch(self)


class Sampler:
    """Draws characters from a language model one at a time (recur_sampler).
    It keeps its model alive; closing the model closes it."""

    def __init__(self, model: Model, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int = 1, threads: int = 1, bf16: bool = False,
                 label: Optional[str] = None, int8: bool = False):
        lib = L.lib()
        self._h: Optional[int] = None
        self.model = model
        cfg = L.SampleConfig()
        lib.recur_sample_config_default(ctypes.byref(cfg))
        cfg.temperature, cfg.top_k, cfg.top_p = temperature, top_k, top_p
        cfg.seed, cfg.threads, cfg.bf16, cfg.int8 = seed, threads, int(bf16), int(int8)
        h, err = ctypes.c_void_p(), L.Err()
        _check(lib.recur_sampler_new(model._handle(), ctypes.byref(cfg), ctypes.byref(h),
                                     ctypes.byref(err)), err)
        self._h = h.value
        model._samplers.add(self)
        if label is not None:
            try:
                self.set_class(label)
            except Exception:
                self.close()
                raise
        self._bytes = bool(lib.recur_vocab_is_bytes(lib.recur_model_vocab(model._handle())))

    def _handle(self) -> int:
        if not self._h:
            raise Error("the sampler is closed (or its model is)", EINVAL)
        return self._h

    def close(self) -> None:
        """Frees the C sampler. Idempotent."""
        if self._h:
            L.lib().recur_sampler_free(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> "Sampler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def prime(self, text: Union[str, bytes]) -> None:
        """Feeds text through the model (Error EVOCAB for an unknown character)."""
        data, err = _bytes(text), L.Err()
        _check(L.lib().recur_sampler_prime(self._handle(), data, len(data), ctypes.byref(err)),
               err)

    def next(self) -> str:
        """Draws the next character, feeds it back and returns it."""
        buf, n, err = (ctypes.c_char * 4)(), ctypes.c_int(), L.Err()
        _check(L.lib().recur_sampler_next(self._handle(), buf, ctypes.byref(n),
                                          ctypes.byref(err)), err)
        raw = buf.raw[:n.value]
        return raw.decode("latin-1") if self._bytes else raw.decode("utf-8")

    @property
    def last_prob(self) -> float:
        """The probability the model gave to the character next() returned last."""
        return float(L.lib().recur_sampler_last_prob(self._handle()))

    def set_class(self, label: Union[str, int]) -> None:
        """The class to write for (condlm models): a label name or id."""
        if isinstance(label, str):
            labels = self.model.labels
            if label not in labels:
                raise Error("unknown class %r (the model's: %s)" % (label, ", ".join(labels)),
                            EINVAL)
            label = labels.index(label)
        err = L.Err()
        _check(L.lib().recur_sampler_set_class(self._handle(), label, ctypes.byref(err)), err)

    def reset(self) -> None:
        """Back to the zero state, nothing primed."""
        L.lib().recur_sampler_reset(self._handle())


# ---------------------------------------------------------------- sequence-to-sequence

class Seq2Seq:
    """An encoder-decoder (recur seq2seq train), made by recur.load()."""

    def __init__(self, handle: int, path: Optional[str] = None):
        self._h: Optional[int] = handle
        self.path = path

    def _handle(self) -> int:
        if not self._h:
            raise Error("the model is closed", EINVAL)
        return self._h

    def close(self) -> None:
        """Frees the C model. Idempotent."""
        if self._h:
            L.lib().recur_seq2seq_free(self._h)
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self) -> "Seq2Seq":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    task = "seq2seq"

    @property
    def info(self) -> Seq2SeqInfo:
        """The architecture and training record of the model."""
        i = L.Seq2SeqInfo()
        L.lib().recur_seq2seq_get_info(self._handle(), ctypes.byref(i))
        c = i.cfg
        return Seq2SeqInfo(cell=CELLS[c.cell], hidden=c.hidden, layers=c.layers, embed=c.embed,
                           dropout=c.dropout, attention=bool(c.attention), src_vocab=i.src_vocab,
                           tgt_vocab=i.tgt_vocab, params=i.params, steps=i.steps,
                           best_val=i.best_val, best_exact=i.best_exact,
                           dropout_in=c.dropout_in, dropout_out=c.dropout_out,
                           variational=bool(c.variational))

    def save(self, path: PathLike) -> None:
        """Writes the model atomically."""
        err = L.Err()
        _check(L.lib().recur_seq2seq_save(self._handle(), _path(path), ctypes.byref(err)), err)

    def translate(self, sources: Union[str, Sequence[str]], beam: int = 1,
                  length_alpha: float = 1.0, max_len: int = 0) -> Union[str, List[str]]:
        """The model's output for each source (recur_seq2seq_predict): greedy
        with beam=1, else a beam search of that width. A single str gives a
        str; a sequence, a list."""
        lib = L.lib()
        single = isinstance(sources, str)
        opt = L.Seq2SeqDecode()
        lib.recur_seq2seq_decode_default(ctypes.byref(opt))
        opt.beam, opt.length_alpha, opt.max_len = beam, length_alpha, max_len
        out = []
        for s in [sources] if single else sources:
            data = _bytes(s)
            cap = 4 * (max_len if max_len > 0 else 2 * len(data) + 10) + 1
            buf, n, err = ctypes.create_string_buffer(cap), ctypes.c_size_t(), L.Err()
            _check(lib.recur_seq2seq_predict(self._handle(), data, len(data), ctypes.byref(opt),
                                             buf, cap, ctypes.byref(n), ctypes.byref(err)), err)
            out.append(buf.raw[:n.value].decode("utf-8"))
        return out[0] if single else out

    def __repr__(self) -> str:
        if not self._h:
            return "<recur.Seq2Seq (closed)>"
        i = self.info
        return "<recur.Seq2Seq %s H=%d L=%d%s, %d params>" % (
            i.cell, i.hidden, i.layers, " attention" if i.attention else "", i.params)


# ---------------------------------------------------------------- loading

def _task_of(path: bytes) -> Optional[str]:
    """recur.task from a checkpoint's metadata (reading the header only), or
    None when the file cannot say: the C loader then reports what is wrong."""
    try:
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > 100_000_000:
                return None
            header = json.loads(f.read(n).decode("utf-8"))
        task = header.get("__metadata__", {}).get("recur.task")
        return task if isinstance(task, str) else None
    except (OSError, ValueError, struct.error, AttributeError, UnicodeDecodeError):
        return None


def load(path: PathLike) -> Union[Model, Seq2Seq]:
    """Loads a checkpoint: a Model (language model, classifier, tagger,
    condlm) or, when its metadata says recur.task = seq2seq, a Seq2Seq.
    Raises Error with the library's message for a missing or bad file."""
    p = _path(path)
    task = _task_of(p)
    lib, h, err = L.lib(), ctypes.c_void_p(), L.Err()
    if task == "seq2seq":
        _check(lib.recur_seq2seq_load(p, ctypes.byref(h), ctypes.byref(err)), err)
        return Seq2Seq(h.value, os.fsdecode(p))
    _check(lib.recur_model_load(p, ctypes.byref(h), ctypes.byref(err)), err)
    return Model(h.value, os.fsdecode(p))


# ---------------------------------------------------------------- training

class _Text:
    """A file opened with recur_text_open (memory-mapped), closed on close()."""

    def __init__(self, path: PathLike):
        self.t, err = L.Text(), L.Err()
        self.open = False
        _check(L.lib().recur_text_open(_path(path), ctypes.byref(self.t), ctypes.byref(err)), err)
        self.open = True

    def close(self) -> None:
        if self.open:
            L.lib().recur_text_close(ctypes.byref(self.t))
            self.open = False


def _last_name(out: str) -> str:
    """model.safetensors -> model.last.safetensors, as `recur train` names it."""
    root, ext = os.path.splitext(out)
    return root + ".last" + ext if ext == ".safetensors" else out + ".last"


def train(path: PathLike, out: PathLike = "model.safetensors", *, last: Optional[PathLike] = None,
          resume: Optional[PathLike] = None, val: Optional[PathLike] = None,
          cell: str = "rnn", hidden: int = 128, layers: int = 2, embed: int = 0,
          dropout: float = 0.0, dropout_in: float = 0.0, dropout_out: float = 0.0,
          variational: bool = False, tie: bool = False, relu: bool = False, bytes: bool = False,
          seq: Optional[int] = None, batch: Optional[int] = None, steps: int = 0,
          epochs: Optional[float] = None, optim: str = "adam", lr: Optional[float] = None,
          clip: Optional[float] = None, eval_every: Optional[int] = None,
          sample_every: int = 0, sample_len: Optional[int] = None,
          save_every: int = 0, val_frac: Optional[float] = None, seed: int = 1,
          threads: int = 1, schedule: str = "step", warmup: int = 0,
          lr_min: float = 0.0, lr_decay: Optional[float] = None,
          lr_decay_every: Optional[int] = None, patience: Optional[int] = None,
          weight_decay: float = 0.0, bf16: bool = False, recompute: bool = False,
          callback: Optional[Callable[[TrainEvent], object]] = None) -> Model:
    """Trains a character-level language model on the text file `path` with
    librecur's trainer, as `recur train` does, and returns the model as it is
    at the end of the run (`out` holds the one best on validation).

    out: the best-validation model; last: the resumable state (default: out
    with .last); resume: continue exactly from a state written as `last`
    (the model's shape then comes from it). Settings left None keep the
    library's defaults (recur_train_config_default). schedule: "step"
    (lr_decay every lr_decay_every steps, 0: every epoch), "constant" or
    "cosine" (down to lr_min at the last step) or "plateau" (lr_decay after
    `patience` validations without a lower loss); warmup: steps of linear
    warm-up; weight_decay: decoupled, on the weight matrices (AdamW); bf16:
    bf16 mixed precision (`recur train --bf16`; fp32 where the CPU has no
    AVX512-BF16, see has_bf16()); recompute: keep less memory by making the
    LSTM/GRU gates again in the backward (`recur train --recompute`).

    callback(event) is called for every TrainEvent (a notebook can draw a
    progress bar or a live loss plot); returning True stops the run. If the
    callback raises, or Ctrl-C (KeyboardInterrupt) arrives during the run,
    the trainer stops cleanly, saves its resumable state to `last` exactly
    as Ctrl-C does in the CLI, and the exception is raised again."""
    lib = L.lib()
    out_s = os.fspath(out)
    last_s = os.fspath(last) if last is not None else _last_name(out_s)
    tc = L.TrainConfig()
    lib.recur_train_config_default(ctypes.byref(tc))
    if optim not in OPTIMS:
        raise Error("unknown optim %r (expected %s)" % (optim, ", ".join(OPTIMS)), EINVAL)
    tc.optim = OPTIMS.index(optim)
    if schedule not in SCHEDULES:
        raise Error("unknown schedule %r (expected %s)" % (schedule, ", ".join(SCHEDULES)), EINVAL)
    tc.schedule, tc.warmup, tc.lr_min = SCHEDULES.index(schedule), warmup, lr_min
    tc.weight_decay = weight_decay
    tc.bf16 = 1 if bf16 else 0
    tc.recompute = 1 if recompute else 0
    tc.steps, tc.seed, tc.threads = steps, seed, threads
    tc.sample_every, tc.save_every = sample_every, save_every
    for name, value in (("seq", seq), ("batch", batch), ("epochs", epochs), ("lr", lr),
                        ("clip", clip), ("eval_every", eval_every), ("sample_len", sample_len),
                        ("val_frac", val_frac), ("lr_decay", lr_decay),
                        ("lr_decay_every", lr_decay_every), ("patience", patience)):
        if value is not None:
            setattr(tc, name, value)

    text = vtext = None
    model = trainer = None
    vocab = ctypes.c_void_p()
    try:
        text = _Text(path)
        if val is not None:
            vtext = _Text(val)
        err = L.Err()
        if resume is not None:
            model = load(resume)
            if not isinstance(model, Model):
                raise Error("%s: a seq2seq model cannot be resumed by train()" % resume, EINVAL)
        else:
            if cell not in CELLS:
                raise Error("unknown cell %r (expected rnn, lstm or gru)" % cell, EINVAL)
            # The vocabulary covers the training and the validation text.
            data = ctypes.string_at(text.t.data, text.t.len)
            if vtext is not None:
                data += ctypes.string_at(vtext.t.data, vtext.t.len)
            _check(lib.recur_vocab_from_text(data, len(data), int(bytes), ctypes.byref(vocab),
                                             ctypes.byref(err)), err)
            mc = L.ModelConfig()
            lib.recur_model_config_default(ctypes.byref(mc))
            mc.cell, mc.relu, mc.hidden, mc.layers = CELLS.index(cell), int(relu), hidden, layers
            mc.embed, mc.dropout = embed, dropout
            mc.dropout_in, mc.dropout_out, mc.variational = dropout_in, dropout_out, int(variational)
            mc.tie = int(tie)
            h = ctypes.c_void_p()
            _check(lib.recur_model_new(ctypes.byref(mc), vocab, seed, ctypes.byref(h),
                                       ctypes.byref(err)), err)
            model = Model(h.value, None)
        t = ctypes.c_void_p()
        _check(lib.recur_trainer_new(model._handle(), ctypes.byref(tc), text.t.data, text.t.len,
                                     vtext.t.data if vtext else None,
                                     vtext.t.len if vtext else 0, ctypes.byref(t),
                                     ctypes.byref(err)), err)
        trainer = t.value
        _check(lib.recur_trainer_set_outputs(trainer, _path(out_s), _path(last_s),
                                             ctypes.byref(err)), err)
        if resume is not None:
            _check(lib.recur_trainer_resume(trainer, _path(resume), ctypes.byref(err)), err)
        _run(trainer, callback)
        model.path = out_s
        return model
    except BaseException:
        # The trainer uses the model: it goes first.
        if trainer:
            lib.recur_trainer_free(trainer)
            trainer = None
        if model is not None:
            model.close()
        raise
    finally:
        if trainer:
            lib.recur_trainer_free(trainer)
        lib.recur_vocab_free(vocab)
        for t_ in (text, vtext):
            if t_ is not None:
                t_.close()


def _event(ev: L.TrainEvent) -> TrainEvent:
    kind = EVENTS[ev.kind] if 0 <= ev.kind < len(EVENTS) else str(ev.kind)
    text = ev.text.decode("utf-8", "replace") if ev.text is not None else None
    metric = ev.metric.decode() if ev.metric is not None else None
    return TrainEvent(kind, ev.step, ev.total_steps, ev.epoch, ev.train_loss, ev.val_loss,
                      ev.best_val, ev.lr, ev.grad_norm, ev.chars_per_s, ev.elapsed_s,
                      ev.train_chars, ev.val_chars, text, ev.val_metric, ev.best_metric, metric)


def _run(trainer: int, callback: Optional[Callable[[TrainEvent], object]]) -> None:
    """recur_trainer_run with a Python callback. A SIGINT during the run only
    sets a flag (as the CLI's handler does); the next event returns non-zero,
    so the library saves the resumable state and returns RECUR_EINTERRUPT,
    and KeyboardInterrupt is raised here. An exception from the callback
    stops the run the same way and is raised again."""
    raised: List[BaseException] = []
    interrupted = [False]

    def on_event(evp, _user) -> int:
        try:
            if interrupted[0] or raised:
                return 1
            if callback is not None and callback(_event(evp.contents)):
                return 1
            return 0
        except BaseException as e:  # KeyboardInterrupt included: stop cleanly first
            raised.append(e)
            return 1

    cb = L.TRAIN_CALLBACK(on_event)  # kept alive by this frame for the whole run
    old = None
    if threading.current_thread() is threading.main_thread():
        def on_sigint(signum, frame):
            interrupted[0] = True
        old = signal.signal(signal.SIGINT, on_sigint)
    err = L.Err()
    try:
        rc = L.lib().recur_trainer_run(trainer, cb, None, ctypes.byref(err))
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if raised:
        raise raised[0]
    if interrupted[0]:
        raise KeyboardInterrupt
    if rc == EINTERRUPT:
        return  # the callback asked to stop: the state is saved, the model is usable
    _check(rc, err)

