"""recur.pytorch - recur's models as PyTorch modules, and back.

    CharRNN                 recur's model as an nn.Module {embed?, rnn, head}
    load_checkpoint(path)   -> (CharRNN with the checkpoint's weights, config dict)
    model_to_torch(model)   -> CharRNN of a recur.Model (Model.to_torch())
    from_torch(module, vocab, path=None, ...) -> recur.Model (recur.from_torch())
    config_from_state(state, vocab, ...)      -> the config dict of a state_dict
    eval_ids, classify_texts: the float64 reference computations the tests
    compare recur with (loss as `recur eval` defines it, class probabilities
    as `recur classify predict` computes them)

tools/to_torch.py and tools/from_torch.py are command-line scripts over this
module. Importing it needs torch but not librecur; the two conversions from
and to a recur.Model load librecur.
"""

import copy
import json
import os
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import safetensors as st
from ._core import EFORMAT, EINVAL, Error

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TASKS = ("lm", "classify", "tag", "condlm")  # recur.task
UNKNOWN_CHAR = "\ufffd"  # what the applications read a character they never saw as


class ToolError(Error):
    """An error to report in one line, without a traceback (a recur.Error
    with code EINVAL or EFORMAT)."""

    def __init__(self, message, code=EINVAL):
        super().__init__(message, code)


# ---------------------------------------------------------------- the module

class CharRNN(nn.Module):
    """recur's model as a PyTorch module: logits_t = head(rnn(x)_t), where x
    is one-hot(V) of the ids or embed(ids), followed by one-hot(cond) of the
    class for a conditioned model. ids are time-major [T, B].

    outputs: head outputs (0 = vocab_size, a language model; else classes or
    tags). cond: conditioning classes (0: none). bidirectional: two
    directions per layer, outputs side by side [forward, reverse]."""

    def __init__(self, cell, vocab_size, hidden, layers, embed=0, relu=False, dropout=0.0,
                 outputs=0, cond=0, bidirectional=False):
        super().__init__()
        if cell not in CELLS:
            raise ToolError("unknown cell %r (expected rnn, lstm or gru)" % cell)
        self.cell = cell
        self.vocab_size = vocab_size
        self.cond = cond
        self.outputs = outputs if outputs else vocab_size
        self.directions = 2 if bidirectional else 1
        # Registered in this order so the state_dict's order is recur's too.
        self.embed = nn.Embedding(vocab_size, embed) if embed else None
        in_size = (embed if embed else vocab_size) + cond
        kw = dict(num_layers=layers, dropout=dropout, batch_first=False)
        if bidirectional:
            kw["bidirectional"] = True
        if cell == "rnn":
            kw["nonlinearity"] = "relu" if relu else "tanh"
        self.rnn = CELLS[cell](in_size, hidden, **kw)
        self.head = nn.Linear(self.directions * hidden, self.outputs)

    def inputs(self, ids, cond=None):
        """The rnn's input [T, B, in] for ids [T, B] (and classes cond, [T, B]
        or [B], for a conditioned model)."""
        dtype = self.head.weight.dtype
        if self.embed is not None:
            x = self.embed(ids)
        else:
            x = F.one_hot(ids, self.vocab_size).to(dtype)
        if self.cond:
            if cond is None:
                raise ToolError("a conditioned model needs a class for every sequence")
            cond = torch.as_tensor(cond, dtype=torch.long)
            if cond.dim() == 1:
                cond = cond.unsqueeze(0).expand(ids.shape[0], -1)
            x = torch.cat([x, F.one_hot(cond, self.cond).to(dtype)], dim=2)
        return x

    def stack(self, ids, state=None, lens=None, cond=None):
        """The recurrent stack over ids [T, B]. With lens ([B] real lengths,
        rows padded at the end) the rows are packed (pack_padded_sequence,
        enforce_sorted=False), so a reverse direction starts at each row's own
        last character and the final state is each row's own (as recur's
        ws->lens). Returns (top-layer outputs [T, B, D*H], zero at padding;
        final state)."""
        x = self.inputs(ids, cond)
        if lens is None:
            return self.rnn(x, state)
        lens = torch.as_tensor(lens, dtype=torch.long).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(x, lens, enforce_sorted=False)
        out, state = self.rnn(packed, state)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=ids.shape[0])
        return out, state

    def forward(self, ids, state=None, lens=None, cond=None):
        """ids: LongTensor [T, B]; state: None (zeros), h0, or (h0, c0) for
        LSTM, [L*D, B, H]. Returns (logits [T, B, O], final state)."""
        out, state = self.stack(ids, state, lens, cond)
        return self.head(out), state

    def pooled(self, ids, state=None, lens=None, cond=None):
        """Many-to-one: logits [B, O] of the head on each row's final states of
        the top layer, [forward after its last character, reverse after reading
        the whole row] (h_n[-2], h_n[-1]; h_n[-1] alone when unidirectional).
        Returns (logits, final state)."""
        _, state = self.stack(ids, state, lens, cond)
        h = state[0] if self.cell == "lstm" else state
        feat = torch.cat([h[-2], h[-1]], dim=1) if self.directions == 2 else h[-1]
        return self.head(feat), state


# ---------------------------------------------------------------- metadata

def vocab_json(chars):
    """recur.vocab: a JSON array of one-character strings in id order."""
    return json.dumps(list(chars), ensure_ascii=False, separators=(",", ":"))


def vocab_of_text(data, byte_mode=False):
    """The vocabulary recur builds from a text: every character (or byte)
    that occurs, in ascending code point order. data is bytes."""
    if byte_mode:
        return [chr(b) for b in sorted(set(data))]
    return sorted(set(decode_utf8(data)))


def decode_utf8(data):
    """Decodes bytes as strict UTF-8, with recur's style of error."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ToolError("invalid UTF-8 at byte offset %d" % e.start)


def config_from_checkpoint(tensors, meta):
    """The architecture a checkpoint describes, as a dict of CharRNN's
    arguments plus 'vocab' (list of characters) and 'bytes' (bool)."""

    def need(key):
        if key not in meta:
            raise ToolError("checkpoint metadata lacks %s" % key)
        return meta[key]

    def integer(key):
        try:
            return int(need(key))
        except ValueError:
            raise ToolError("checkpoint metadata %s=%r is not an integer" % (key, meta[key]))

    cell = need("recur.cell")
    if cell not in CELLS:
        raise ToolError("checkpoint has unknown cell %r (expected rnn, lstm or gru)" % cell)
    nonlin = meta.get("recur.nonlinearity", "tanh")  # absent means tanh, as in nn.RNN
    if nonlin not in ("tanh", "relu"):
        raise ToolError("checkpoint has unknown nonlinearity %r" % nonlin)
    if nonlin == "relu" and cell != "rnn":
        raise ToolError("checkpoint: relu nonlinearity is only for the rnn cell")
    try:
        vocab = json.loads(need("recur.vocab"))
    except ValueError as e:
        raise ToolError("checkpoint metadata recur.vocab is not JSON: %s" % e)
    if not isinstance(vocab, list) or not vocab or not all(
            isinstance(c, str) and len(c) == 1 for c in vocab):
        raise ToolError("checkpoint metadata recur.vocab must be a non-empty array of one-character strings")
    if any(a >= b for a, b in zip(vocab, vocab[1:])):
        raise ToolError("checkpoint metadata recur.vocab is not in ascending code point order")
    byte_mode = meta.get("recur.vocab_bytes", "0") == "1"
    if byte_mode and any(ord(c) > 0xFF for c in vocab):
        raise ToolError("checkpoint has a byte vocabulary with characters above U+00FF")
    embed = 0
    if "embed.weight" in tensors:
        shape = tensors["embed.weight"].shape
        if len(shape) != 2:
            raise ToolError("tensor embed.weight must be 2-D [vocab, embed], got %s" % (list(shape),))
        embed = int(shape[1])
    dropout = float(meta.get("recur.dropout", "0") or 0)
    # The application: its labels decide the head (classify, tag) or the
    # conditioning input (condlm), as checkpoint.c reads them.
    task = meta.get("recur.task", "lm")
    if task not in TASKS:
        raise ToolError("checkpoint has unknown task %r (expected %s)" % (task, ", ".join(TASKS)))
    labels = []
    if task != "lm":
        try:
            labels = json.loads(need("recur.labels"))
        except ValueError as e:
            raise ToolError("checkpoint metadata recur.labels is not JSON: %s" % e)
        if not isinstance(labels, list) or not labels or not all(
                isinstance(x, str) and x for x in labels):
            raise ToolError("checkpoint metadata recur.labels must be a non-empty array of "
                            "non-empty strings")
    return dict(cell=cell, vocab_size=len(vocab), hidden=integer("recur.hidden"),
                layers=integer("recur.layers"), embed=embed, relu=nonlin == "relu",
                dropout=dropout, vocab=vocab, bytes=byte_mode, task=task, labels=labels,
                outputs=len(labels) if task in ("classify", "tag") else 0,
                cond=len(labels) if task == "condlm" else 0,
                bidirectional=meta.get("recur.bidirectional", "0") == "1")


def module_args(cfg):
    """The subset of a config dict that CharRNN takes."""
    keys = ("cell", "vocab_size", "hidden", "layers", "embed", "relu", "dropout", "outputs",
            "cond", "bidirectional")
    return {k: cfg.get(k, 0) for k in keys}


def metadata_for(cfg):
    """The __metadata__ recur reads (all values are strings)."""
    meta = {
        "format": "pt",
        "recur.cell": cfg["cell"],
        "recur.layers": str(cfg["layers"]),
        "recur.hidden": str(cfg["hidden"]),
        "recur.embed": str(cfg["embed"]),
        "recur.vocab": vocab_json(cfg["vocab"]),
        "recur.vocab_bytes": "1" if cfg.get("bytes") else "0",
    }
    if cfg["cell"] == "rnn":
        meta["recur.nonlinearity"] = "relu" if cfg.get("relu") else "tanh"
    if cfg.get("task", "lm") != "lm":
        meta["recur.task"] = cfg["task"]
        meta["recur.labels"] = json.dumps(list(cfg["labels"]), ensure_ascii=False,
                                          separators=(",", ":"))
    if cfg.get("bidirectional"):
        meta["recur.bidirectional"] = "1"
    return meta


def load_checkpoint(path):
    """Reads a recur checkpoint into a CharRNN (float32, eval mode); returns
    (module, config)."""
    try:
        tensors, meta = st.read(os.fspath(path))
    except OSError as e:
        raise ToolError("%s: %s" % (path, e.strerror or e))
    except st.FormatError as e:
        raise ToolError("%s: not a valid safetensors file: %s" % (path, e), EFORMAT)
    # Optimizer moments and trainer state are not part of the model.
    tensors = {k: v for k, v in tensors.items() if not k.startswith(("optim.", "train."))}
    cfg = config_from_checkpoint(tensors, meta)
    model = CharRNN(**module_args(cfg))
    state = {k: torch.from_numpy(v) for k, v in tensors.items()}
    for k, v in state.items():
        if v.dtype != torch.float32:
            raise ToolError("%s: tensor %s is %s, expected float32" % (path, k, v.dtype))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        # Missing/unexpected keys and shape mismatches, as PyTorch words them.
        raise ToolError("%s: %s" % (path, str(e).strip()))
    model.eval()
    return model, cfg


# ---------------------------------------------------------------- evaluation

def encode_text(data, cfg, skip_unknown=False):
    """The ids of a text (bytes) under the checkpoint's vocabulary; returns
    (ids, skipped)."""
    index = {c: i for i, c in enumerate(cfg["vocab"])}
    chars = [chr(b) for b in data] if cfg["bytes"] else decode_utf8(data)
    ids, skipped = [], 0
    for pos, c in enumerate(chars):
        i = index.get(c)
        if i is None:
            if skip_unknown:
                skipped += 1
                continue
            raise ToolError("character %r (U+%04X) at character offset %d is not in the model's vocabulary"
                            % (c, ord(c), pos))
        ids.append(i)
    return ids, skipped


@torch.no_grad()
def eval_ids(model, ids, chunk=4096):
    """Mean cross-entropy (nats) of predicting ids[1:] from the ones before,
    the state starting at zero and carried throughout. Runs a float64 copy of
    the model; returns (count, nats_per_char)."""
    if len(ids) < 2:
        raise ToolError("nothing to evaluate: the text needs at least two characters")
    m = copy.deepcopy(model).double().eval()
    x = torch.tensor(ids[:-1], dtype=torch.long)
    y = torch.tensor(ids[1:], dtype=torch.long)
    total, state = 0.0, None
    # In chunks only to bound memory: the state is carried, so this is one sequence.
    for s in range(0, len(x), chunk):
        logits, state = m(x[s:s + chunk].unsqueeze(1), state)
        total += F.cross_entropy(logits.squeeze(1), y[s:s + chunk], reduction="sum").item()
    return len(y), total / len(y)


def encode_app_text(text, cfg):
    """The ids of a text (str) as the applications read it (src/apps.c): a
    character outside the vocabulary is read as U+FFFD."""
    index = {c: i for i, c in enumerate(cfg["vocab"])}
    unk = index.get(UNKNOWN_CHAR)
    ids = []
    for pos, c in enumerate(text):
        i = index.get(c, unk)
        if i is None:
            raise ToolError("character %r (U+%04X) at character offset %d is not in the model's "
                            "vocabulary, which has no U+FFFD to read it as" % (c, ord(c), pos))
        ids.append(i)
    return ids


@torch.no_grad()
def classify_texts(model, cfg, texts):
    """Label probabilities of each text, as `recur classify predict` computes
    them, in float64; returns a list of lists (label order)."""
    if cfg["task"] != "classify":
        raise ToolError("--classify needs a classify model, this is a %s model" % cfg["task"])
    m = copy.deepcopy(model).double().eval()
    out = []
    for text in texts:
        ids = encode_app_text(text, cfg)
        if not ids:
            raise ToolError("empty text")
        x = torch.tensor(ids, dtype=torch.long).unsqueeze(1)  # [T, 1]
        logits, _ = m.pooled(x, lens=[len(ids)])
        out.append(torch.softmax(logits[0], dim=0).tolist())
    return out


# ---------------------------------------------------------------- from PyTorch

def config_from_state(state, vocab, task="lm", labels=None, relu=False, byte_mode=False,
                      cell=None):
    """The architecture of a state_dict {embed?, rnn, head}, from its
    tensors' shapes, as a config dict (see config_from_checkpoint). vocab: a
    list of characters; task and labels: what the head predicts (a language
    model's head has one output per character); relu: an rnn cell's
    nonlinearity (a state_dict cannot say); cell: the expected cell, checked."""
    labels = list(labels or [])
    if task not in TASKS:
        raise ToolError("unknown task %r (expected %s)" % (task, ", ".join(TASKS)))
    if task == "lm" and labels:
        raise ToolError("labels are for the classify, tag and condlm tasks")
    if task != "lm" and not (labels and all(isinstance(x, str) and x for x in labels)):
        raise ToolError("task %s needs labels: a non-empty list of non-empty strings" % task)

    def shape(name):
        if name not in state:
            raise ToolError("the state_dict lacks %s (keys: %s)" % (name, ", ".join(sorted(state))))
        return tuple(state[name].shape)

    gh, hidden = shape("rnn.weight_hh_l0")
    gates = gh // hidden
    cells = {g: c for c, g in GATES.items()}
    if gh % hidden or gates not in cells:
        raise ToolError("rnn.weight_hh_l0 is %s: not [G*H, H] for G = 1 (rnn), 4 (lstm), 3 (gru)"
                        % (list((gh, hidden)),))
    found = cells[gates]
    if cell and cell != found:
        raise ToolError("cell %s, but the state_dict is a %s (weight_hh_l0 is [%d, %d])"
                        % (cell, found, gh, hidden))
    layers = 0
    while "rnn.weight_hh_l%d" % layers in state:
        layers += 1
    embed = shape("embed.weight")[1] if "embed.weight" in state else 0
    bidirectional = "rnn.weight_hh_l0_reverse" in state
    # Inputs of layer 0 beyond the characters' are a condlm model's classes.
    cond = shape("rnn.weight_ih_l0")[1] - (embed if embed else len(vocab))
    outputs = shape("head.weight")[0]
    if task in ("lm", "condlm") and outputs != len(vocab):
        raise ToolError("the head has %d outputs but the vocabulary has %d characters%s"
                        % (outputs, len(vocab), "" if task != "lm" else
                           " (a classifier or tagger needs a task and labels)"))
    if task in ("classify", "tag") and outputs != len(labels):
        raise ToolError("the head has %d outputs but there are %d labels" % (outputs, len(labels)))
    if cond < 0 or (task != "condlm" and cond != 0):
        raise ToolError("rnn.weight_ih_l0 has %d input columns, expected %d (the %s)%s"
                        % (shape("rnn.weight_ih_l0")[1], embed if embed else len(vocab),
                           "embedding" if embed else "characters",
                           " plus the classes of task condlm" if cond > 0 else ""))
    if task == "condlm" and cond != len(labels):
        raise ToolError("rnn.weight_ih_l0 has %d class columns but there are %d labels"
                        % (cond, len(labels)))
    if relu and found != "rnn":
        raise ToolError("the relu nonlinearity is only for the rnn cell")
    return dict(cell=found, vocab_size=len(vocab), hidden=hidden, layers=layers, embed=embed,
                relu=bool(relu), dropout=0.0, vocab=list(vocab), bytes=bool(byte_mode),
                task=task, labels=labels, bidirectional=bidirectional,
                outputs=outputs if task in ("classify", "tag") else 0,
                cond=cond if task == "condlm" else 0)


def check_vocab(vocab, byte_mode=False):
    """A vocabulary as recur orders it: one-character strings, strictly
    ascending by code point (bytes: U+0000..U+00FF only)."""
    vocab = list(vocab)
    if not vocab or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
        raise ToolError("the vocabulary must be a non-empty list of one-character strings")
    if any(a >= b for a, b in zip(vocab, vocab[1:])):
        raise ToolError("the vocabulary must be in strictly ascending code point order "
                        "(recur's id order)")
    if byte_mode and any(ord(c) > 0xFF for c in vocab):
        raise ToolError("a byte vocabulary holds only U+0000..U+00FF")
    return vocab


def write_checkpoint(path, state, cfg):
    """Writes a state_dict as a recur checkpoint (float32 tensors under
    their PyTorch names, and the metadata recur reads)."""
    tensors = {k: v.detach().to(torch.float32).contiguous().cpu().numpy() for k, v in state.items()}
    st.write(os.fspath(path), tensors, metadata_for(cfg))


def from_torch(module, vocab, path=None, bytes=False, task="lm", labels=None, relu=None):
    """A recur.Model with the weights of module (or of a state_dict) over
    vocab (a list or str of characters in id order). Written to `path` as a
    checkpoint (a temporary file, removed after loading, when None) and
    loaded by librecur, which validates it. relu: None reads an nn.RNN's own
    nonlinearity when the module has one."""
    from ._core import load
    state = module.state_dict() if hasattr(module, "state_dict") else dict(module)
    if relu is None:
        rnn = getattr(module, "rnn", None)
        relu = getattr(rnn, "nonlinearity", "tanh") == "relu"
    vocab = check_vocab(vocab, bytes)
    cfg = config_from_state(state, vocab, task=task, labels=labels, relu=relu, byte_mode=bytes)
    # A strict load into the module recur's layout gives: missing, unexpected
    # or misshapen tensors are reported before anything is written.
    ref = CharRNN(**module_args(cfg))
    try:
        ref.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ToolError(str(e).strip())
    if path is not None:
        write_checkpoint(path, ref.state_dict(), cfg)
        return load(path)
    fd, tmp = tempfile.mkstemp(suffix=".safetensors", prefix="recur-from-torch-")
    os.close(fd)
    try:
        write_checkpoint(tmp, ref.state_dict(), cfg)
        m = load(tmp)
        m.path = None
        return m
    finally:
        os.unlink(tmp)


def model_to_torch(model):
    """The CharRNN of a recur.Model, weights loaded, in eval mode: the model
    is saved to a temporary checkpoint, which is read back strictly."""
    fd, tmp = tempfile.mkstemp(suffix=".safetensors", prefix="recur-to-torch-")
    os.close(fd)
    try:
        model.save(tmp)
        module, cfg = load_checkpoint(tmp)
        module.recur_config = cfg  # vocab, task, labels: what from_torch needs back
        return module
    finally:
        os.unlink(tmp)
