#!/usr/bin/python3
"""to_torch.py - load a recur checkpoint into PyTorch.

    to_torch.py CKPT [--text FILE] [--skip-unknown] [--classify TEXT...] [--save OUT.pt]

Reads CKPT (safetensors, with tools/st.py), builds the equivalent PyTorch
module

    {embed: nn.Embedding (only if the checkpoint has embed.weight),
     rnn:   nn.RNN | nn.LSTM | nn.GRU (batch_first=False; bidirectional=True
            when recur.bidirectional is "1"; input_size = V or E, plus the
            number of classes of a condlm model, whose one-hot class follows
            the characters' input),
     head:  nn.Linear(D*H, O)  (O = V for a language model, the number of
            labels for classify and tag)}

and loads the checkpoint's tensors into it with load_state_dict(strict=True)
(tensors under optim. and train., the optimizer and trainer state of a
resumable checkpoint, are ignored). Every task loads: lm, classify, tag and
condlm (recur.task, recur.labels, recur.bidirectional; docs/applications.md).

--text FILE computes the loss exactly as `recur eval` defines it: the state
starts at zero and is carried through the whole file, the first character is
only input, and the result is the mean loss in nats over the len-1
predictions. It prints one JSON object {"chars","nats_per_char","bits_per_char"}.
The computation runs in float64, so it is the reference recur's float32 result
is compared with. Only for language models (task lm).

--classify TEXT... (classify models) prints, per TEXT, one JSON object
{"text", "probs": {label: probability}} computed as `recur classify predict`
does: the text's characters (one never seen in training read as U+FFFD), the
head on [forward state after the last character, reverse state after reading
the whole text] (nn.RNN's h_n of the top layer), softmax; in float64.

--save OUT.pt writes the module's state_dict with torch.save.

This file also holds the pieces the other tools share (imported by
from_torch.py and make_fixtures.py): the module class, metadata <-> config,
the vocabulary and text encoding.
"""

import argparse
import copy
import json
import math
import os
import sys

# The sibling modules (st.py, to_torch.py) are imported from this directory;
# no __pycache__ is written into the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402  (tools/st.py)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
TASKS = ("lm", "classify", "tag", "condlm")  # recur.task
UNKNOWN_CHAR = "\ufffd"  # what the applications read a character they never saw as


class ToolError(Exception):
    """An error to report in one line, without a traceback."""


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
        tensors, meta = st.read(path)
    except OSError as e:
        raise ToolError("%s: %s" % (path, e.strerror or e))
    except st.FormatError as e:
        raise ToolError("%s: not a valid safetensors file: %s" % (path, e))
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


# ---------------------------------------------------------------- command line

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="to_torch.py",
        description="Load a recur checkpoint into an equivalent PyTorch module "
                    "{embed, rnn, head}; optionally evaluate it on a text as `recur eval` "
                    "does (language models), classify texts as `recur classify predict` "
                    "does (classifiers), and save its state_dict.")
    ap.add_argument("ckpt", metavar="CKPT", help="recur checkpoint (.safetensors)")
    ap.add_argument("--text", metavar="FILE",
                    help="print {chars, nats_per_char, bits_per_char} on FILE as JSON, "
                         "like `recur eval CKPT FILE --json`")
    ap.add_argument("--skip-unknown", action="store_true",
                    help="with --text: skip characters outside the vocabulary")
    ap.add_argument("--classify", metavar="TEXT", nargs="+",
                    help="classify models: print {text, probs: {label: p}} per TEXT as JSON, "
                         "like `recur classify predict CKPT TEXT... --top-k N`")
    ap.add_argument("--save", metavar="OUT.pt", help="torch.save the module's state_dict to OUT.pt")
    args = ap.parse_args(argv)
    try:
        model, cfg = load_checkpoint(args.ckpt)
        if args.text and (cfg["task"] != "lm" or cfg["bidirectional"]):
            raise ToolError("--text evaluates language models; %s is a %s%s model"
                            % (args.ckpt, "bidirectional " if cfg["bidirectional"] else "",
                               cfg["task"]))
        if args.classify:
            for text, probs in zip(args.classify, classify_texts(model, cfg, args.classify)):
                print(json.dumps({"text": text, "probs": dict(zip(cfg["labels"], probs))},
                                 ensure_ascii=False))
        if args.text:
            try:
                with open(args.text, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise ToolError("%s: %s" % (args.text, e.strerror or e))
            try:
                ids, skipped = encode_text(data, cfg, args.skip_unknown)
                chars, nats = eval_ids(model, ids)
            except ToolError as e:
                raise ToolError("%s: %s" % (args.text, e))
            out = {"chars": chars, "nats_per_char": nats, "bits_per_char": nats / math.log(2)}
            if args.skip_unknown:
                out["skipped"] = skipped
            print(json.dumps(out))
        if args.save:
            torch.save(model.state_dict(), args.save)
        if not args.text and not args.save and not args.classify:
            n = sum(p.numel() for p in model.parameters())
            task = ""
            if cfg["task"] != "lm":
                task = ", task %s (%d %s)" % (cfg["task"], len(cfg["labels"]),
                                              "tags" if cfg["task"] == "tag" else "classes")
            print("%s: %s%s, hidden %d, layers %d, %s, vocabulary %d%s, %d parameters: "
                  "loaded strictly"
                  % (args.ckpt, "bidirectional " if cfg["bidirectional"] else "", cfg["cell"],
                     cfg["hidden"], cfg["layers"],
                     "embedding %d" % cfg["embed"] if cfg["embed"] else "one-hot input",
                     cfg["vocab_size"], task, n))
    except ToolError as e:
        print("to_torch.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
