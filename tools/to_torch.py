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

The module class, metadata <-> config, the vocabulary and text encoding and
the float64 reference computations live in the Python module
(python/recur/pytorch.py, `recur.pytorch`); this script and from_torch.py,
make_fixtures.py import them from here, as before. librecur is not needed.
"""

import argparse
import json
import math
import os
import sys

# The recur module is imported from the source tree's python/ (no
# __pycache__ is written into it); st is the tools' safetensors module.
sys.dont_write_bytecode = True
_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(0, os.path.join(_here, "..", "python"))
import st  # noqa: E402,F401  (tools/st.py)
from recur.pytorch import (CELLS, GATES, TASKS, UNKNOWN_CHAR, CharRNN,  # noqa: E402,F401
                           ToolError, classify_texts, config_from_checkpoint, decode_utf8,
                           encode_app_text, encode_text, eval_ids, load_checkpoint, metadata_for,
                           module_args, vocab_json, vocab_of_text)

import torch  # noqa: E402


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
