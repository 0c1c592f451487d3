#!/usr/bin/python3
"""from_torch.py - write a recur checkpoint from a PyTorch model.

Two ways to get the model:

  from_torch.py --state MODEL.pt --vocab-text FILE --out CKPT [--nonlinearity relu] [--bytes]
                [--task TASK --labels JSON]
      MODEL.pt is a state_dict saved with torch.save (for instance by
      `to_torch.py CKPT --save MODEL.pt`), with the keys of the module
      {embed: nn.Embedding (optional), rnn: nn.RNN|nn.LSTM|nn.GRU, head: nn.Linear}.
      The cell, hidden size, layers, embedding size, direction(s) (the
      "_reverse" tensors of a bidirectional rnn) and the number of head
      outputs and conditioning inputs are read from the tensors' shapes (a
      state_dict cannot say tanh from relu: give --nonlinearity relu for such
      an RNN). The vocabulary is that of FILE (--vocab-text) or a JSON array
      (--vocab). A language model's head has one output per character; the
      applications (docs/applications.md) need --task classify|tag|condlm and
      their --labels: one per head output (classify, tag) or per conditioning
      class (condlm: rnn.weight_ih_l0's columns after the characters' input).
      An application's vocabulary holds U+FFFD, which recur reads an unseen
      character as: --vocab-text adds it (and "\n" for condlm, as recur's
      trainer does); a --vocab JSON must hold it.

  from_torch.py --random --cell gru --hidden 32 --layers 2 [--embed 8] --vocab-text FILE
                --seed S --out CKPT [--task TASK --labels JSON] [--bidirectional]
      A freshly initialised PyTorch model (PyTorch's default initialisation,
      from torch.manual_seed(S)) over the vocabulary of FILE.

The checkpoint holds the state_dict's tensors as float32 under their PyTorch
names, and __metadata__ {format: pt, recur.cell, recur.nonlinearity (rnn),
recur.layers, recur.hidden, recur.embed, recur.vocab, recur.vocab_bytes, and
for an application recur.task, recur.labels, recur.bidirectional}.
"""


import argparse
import json
import os
import sys

# The sibling modules (st.py, to_torch.py) are imported from this directory;
# no __pycache__ is written into the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from to_torch import (GATES, TASKS, UNKNOWN_CHAR, CharRNN, ToolError,  # noqa: E402
                      metadata_for, module_args, vocab_of_text)
from recur.pytorch import config_from_state as _config_from_state  # noqa: E402

import torch  # noqa: E402


def vocabulary(args):
    """The vocabulary from --vocab-text or --vocab, as a list of characters.
    An application's (--task classify, tag, condlm) holds U+FFFD, which recur
    reads every character it never saw as: --vocab-text adds it (and "\n"
    for condlm, as `recur train --by-class` does), --vocab must hold it."""
    vocab = plain_vocabulary(args)
    if (args.task or "lm") == "lm":
        return vocab
    if args.bytes:
        raise ToolError("--task %s reads UTF-8 text; --bytes is for language models" % args.task)
    if args.vocab_text:
        extra = {UNKNOWN_CHAR, "\n"} if args.task == "condlm" else {UNKNOWN_CHAR}
        return sorted(set(vocab) | extra)
    if UNKNOWN_CHAR not in vocab:
        raise ToolError("--vocab of a %s model must hold U+FFFD (\"\\ufffd\"), which recur reads "
                        "an unseen character as" % args.task)
    return vocab


def plain_vocabulary(args):
    """The vocabulary from --vocab-text or --vocab, as a list of characters."""
    if args.vocab_text:
        try:
            with open(args.vocab_text, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ToolError("%s: %s" % (args.vocab_text, e.strerror or e))
        if not data:
            raise ToolError("%s: the file is empty" % args.vocab_text)
        try:
            return vocab_of_text(data, args.bytes)
        except ToolError as e:
            raise ToolError("%s: %s (--bytes reads any file as bytes)" % (args.vocab_text, e))
    try:
        vocab = json.loads(args.vocab)
    except ValueError as e:
        raise ToolError("--vocab is not JSON: %s" % e)
    if not isinstance(vocab, list) or not vocab or not all(
            isinstance(c, str) and len(c) == 1 for c in vocab):
        raise ToolError("--vocab must be a JSON array of one-character strings")
    if any(a >= b for a, b in zip(vocab, vocab[1:])):
        raise ToolError("--vocab must be in strictly ascending code point order (recur's id order)")
    if args.bytes and any(ord(c) > 0xFF for c in vocab):
        raise ToolError("--vocab with --bytes holds only U+0000..U+00FF")
    return vocab


def task_labels(args):
    """The task and labels from --task and --labels (a JSON array)."""
    task = args.task or "lm"
    if task == "lm":
        if args.labels is not None:
            raise ToolError("--labels is for --task classify, tag or condlm")
        return task, []
    if args.labels is None:
        raise ToolError("--task %s needs --labels (a JSON array of the %s' names)"
                        % (task, "tags" if task == "tag" else "classes"))
    try:
        labels = json.loads(args.labels)
    except ValueError as e:
        raise ToolError("--labels is not JSON: %s" % e)
    if not isinstance(labels, list) or not labels or not all(
            isinstance(x, str) and x for x in labels):
        raise ToolError("--labels must be a non-empty JSON array of non-empty strings")
    return task, labels


def config_from_state(state, vocab, args):
    """The architecture of a state_dict, from its tensors' shapes
    (recur.pytorch.config_from_state, with the options' words in errors)."""
    task, labels = task_labels(args)
    try:
        return _config_from_state(state, vocab, task=task, labels=labels,
                                  relu=args.nonlinearity == "relu", byte_mode=args.bytes,
                                  cell=args.cell)
    except ToolError as e:
        msg = str(e).replace("there are %d labels" % len(labels), "--labels has %d" % len(labels))
        msg = msg.replace("a task and labels", "--task and --labels").replace(
            "of task condlm", "of --task condlm").replace(
            "cell %s, but" % args.cell, "--cell %s, but" % args.cell)
        raise ToolError(msg)


def load_state(path):
    """A state_dict from a torch.save file (a state_dict, or a module)."""
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many kinds for a bad file
        raise ToolError("%s: cannot load with torch.load: %s" % (path, e))
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        raise ToolError("%s: expected a state_dict (a dict of tensors)" % path)
    return dict(obj)


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="from_torch.py",
        description="Write a recur checkpoint from a PyTorch model {embed, rnn, head}: "
                    "a saved state_dict (--state) or a new randomly initialised one (--random).",
        epilog="examples:\n"
               "  from_torch.py --random --cell gru --hidden 32 --layers 2 --vocab-text input.txt "
               "--seed 1 --out gru.safetensors\n"
               "  from_torch.py --state model.pt --vocab-text input.txt --out model.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--state", metavar="MODEL.pt", help="a torch.save'd state_dict")
    src.add_argument("--random", action="store_true",
                     help="a new model with PyTorch's default initialisation")
    voc = ap.add_mutually_exclusive_group(required=True)
    voc.add_argument("--vocab-text", metavar="FILE", help="the vocabulary is every character of FILE")
    voc.add_argument("--vocab", metavar="JSON", help='the vocabulary as a JSON array, e.g. \'["a","b"]\'')
    ap.add_argument("--bytes", action="store_true", help="a byte vocabulary (any file) instead of UTF-8")
    ap.add_argument("--out", metavar="CKPT", required=True, help="checkpoint to write (.safetensors)")
    ap.add_argument("--cell", choices=sorted(GATES), help="rnn, lstm or gru (--random: required)")
    ap.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh",
                    help="rnn only (default tanh)")
    ap.add_argument("--hidden", type=int, metavar="H", help="--random: units per layer")
    ap.add_argument("--layers", type=int, default=1, metavar="L", help="--random: layers (default 1)")
    ap.add_argument("--embed", type=int, default=0, metavar="E",
                    help="--random: embedding size (default 0: one-hot input)")
    ap.add_argument("--seed", type=int, default=0, metavar="S", help="--random: torch.manual_seed (default 0)")
    ap.add_argument("--task", choices=TASKS,
                    help="what the model is for (default lm); classify, tag and condlm need --labels")
    ap.add_argument("--labels", metavar="JSON",
                    help="the classes (classify, condlm) or tags (tag) as a JSON array, in id order")
    ap.add_argument("--bidirectional", action="store_true",
                    help="--random: two directions per layer (classify, tag)")
    args = ap.parse_args(argv)
    try:
        vocab = vocabulary(args)
        if args.random:
            if not args.cell:
                raise ToolError("--random needs --cell")
            if not args.hidden or args.hidden < 1:
                raise ToolError("--random needs --hidden H >= 1")
            if args.layers < 1 or args.embed < 0:
                raise ToolError("--layers must be >= 1 and --embed >= 0")
            if args.nonlinearity == "relu" and args.cell != "rnn":
                raise ToolError("--nonlinearity relu is only for the rnn cell")
            task, labels = task_labels(args)
            if args.bidirectional and task in ("lm", "condlm"):
                raise ToolError("--bidirectional is for --task classify or tag (a language "
                                "model reads left to right)")
            cfg = dict(cell=args.cell, vocab_size=len(vocab), hidden=args.hidden,
                       layers=args.layers, embed=args.embed, relu=args.nonlinearity == "relu",
                       dropout=0.0, vocab=vocab, bytes=args.bytes, task=task, labels=labels,
                       bidirectional=args.bidirectional,
                       outputs=len(labels) if task in ("classify", "tag") else 0,
                       cond=len(labels) if task == "condlm" else 0)
            torch.manual_seed(args.seed)
            state = CharRNN(**module_args(cfg)).state_dict()
        else:
            if args.bidirectional:
                raise ToolError("--bidirectional is for --random (a state_dict says it by its "
                                "_reverse tensors)")
            state = load_state(args.state)
            cfg = config_from_state(state, vocab, args)
            # Strict load into the module: missing, unexpected or misshapen
            # tensors are reported by PyTorch before anything is written.
            model = CharRNN(**module_args(cfg))
            try:
                model.load_state_dict(state, strict=True)
            except RuntimeError as e:
                raise ToolError("%s: %s" % (args.state, str(e).strip()))
            state = model.state_dict()
        tensors = {k: v.detach().to(torch.float32).contiguous().numpy() for k, v in state.items()}
        try:
            st.write(args.out, tensors, metadata_for(cfg))
        except OSError as e:
            raise ToolError("%s: %s" % (args.out, e.strerror or e))
    except ToolError as e:
        print("from_torch.py: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
