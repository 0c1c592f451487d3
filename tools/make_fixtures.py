#!/usr/bin/python3
"""make_fixtures.py - PyTorch reference fixtures for tests/test_parity.c.

    /usr/bin/python3 tools/make_fixtures.py tests/fixtures

For each case below it writes two files:

  <case>.model.safetensors  a checkpoint exactly as a PyTorch user would write
                            one by hand: the state_dict of {embed (optional),
                            rnn, head} in float32, and only the required
                            metadata (format, recur.cell, recur.nonlinearity
                            for rnn, recur.layers, recur.hidden, recur.vocab).
  <case>.ref.safetensors    inputs and PyTorch's outputs for one window:
                              ids, targets  I64 [T, B] (time-major)
                              h0 (c0)       F32 [L, B, H] initial state
                              logits        F32 [T, B, V]
                              loss          F32 []  mean cross-entropy over T*B
                              hn (cn)       F32 [L, B, H] final state
                              grad.<param>  F32, d loss / d parameter
                              grad.h0 (grad.c0)

The references are computed in float64 from the float32 weights and states
(converted exactly), so they are essentially exact and what the C test
measures is recur's own float32 error. Everything is seeded: running the
script again gives byte-identical files (with the same torch version).
Dropout is 0 (it is random; the gradient check covers it).

The application cases (APP_CASES, docs/applications.md) are small models of
the other shapes, over a batch of rows of different lengths padded at the
end, run in PyTorch as packed sequences (pack_padded_sequence with
enforce_sorted=False, pad_packed_sequence), which is what recur's ws->lens
means. Their model files carry recur.task, recur.labels and (bidirectional)
recur.bidirectional = "1"; their references add or change:

  tag_*       bidirectional, a tag at every position (task tag, O tags):
                lens        I64 [B] the rows' real lengths
                ids         I64 [T, B], any valid id at padding (never read)
                targets     I64 [T, B], -1 at padding
                logits      F32 [T, B, O] (at padding: the head on zeros; not
                            compared)
                loss        mean cross-entropy over the real positions
  classify_*  many-to-one (task classify, O classes), __metadata__ pool = "1":
                lens, ids as above; labels I64 [B], one class per row
                logits      F32 [B, O] = head(cat(h_n[-2], h_n[-1])): the top
                            layer's forward state after the row's last
                            character and reverse state after the whole row
                loss        mean cross-entropy over the B rows
  condlm_*    a language model conditioned on a class (task condlm, C classes)
              fed as onehot(class) after the characters' input at every step
              (rnn.weight_ih_l0 is [G*H, V+C], or [G*H, E+C] with an
              embedding):
                cond        I64 [T, B] each position's class
                lens, targets (-1 at padding), logits [T, B, V], loss as tag_*

and, as for the language models, h0 (c0), hn (cn) and grad.h0 (grad.c0), of
shape [L*D, B, H] in PyTorch's order (layer-major, the reverse direction
second; D = 2 when bidirectional), hn being each row's own final state.
"""

import argparse
import copy
import os
import sys

# The sibling modules (st.py, to_torch.py) are imported from this directory;
# no __pycache__ is written into the source tree.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from to_torch import CharRNN, vocab_json  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# Seven characters in ascending code point order, two of them outside ASCII
# and one a control character, so the vocabulary's JSON is exercised too.
VOCAB = ["\n", " ", "a", "b", "z", "\u00e9", "\u0436"]
V = len(VOCAB)
E = 6

# (cell, relu, layers, hidden, embed, batch, steps, nonzero initial state).
# Per cell, the five cases cover layers 1/2/3, hidden 5/13/64, one-hot and
# embedding input, batch 1/3, T 1/17, zero and non-zero initial state; the
# relu rnn gets two more. Not the cross product: it would be megabytes.
CASES = []
# The H=64 rnn has two layers, so that its second layer's input product is
# big enough to run on 2 threads in test_parity (the kernels only split
# products above 2e5 flops); the lstm and gru ones stay at one layer for size.
for cell in ("rnn", "lstm", "gru"):
    CASES += [
        (cell, False, 1, 5, 0, 1, 1, True),
        (cell, False, 2, 13, E, 3, 17, True),
        (cell, False, 3, 5, 0, 3, 17, False),
        (cell, False, 2 if cell == "rnn" else 1, 64, 0, 3, 17, True),
        (cell, False, 3, 13, E, 1, 17, True),
    ]
CASES += [
    ("rnn", True, 2, 13, 0, 3, 17, True),
    ("rnn", True, 1, 5, E, 3, 1, False),
]


# The application cases: (task, cell, layers, hidden, embed, bidirectional,
# outputs or classes, batch, lens (T = max), nonzero initial state). The
# rows' lengths are ragged and unsorted, down to 1.
TAGS = ["NOUN", "VERB", "ADJ", "PUNCT", "\u0416", "X", "."]
CLASSES = ["English", "Fran\u00e7ais", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439",
           "\u65e5\u672c\u8a9e"]
APP_CASES = [
    ("tag", "rnn", 2, 5, 0, True, 7, 3, [8, 3, 1], True),
    ("tag", "lstm", 2, 7, E, True, 5, 3, [2, 9, 5], True),
    ("tag", "gru", 2, 9, 0, True, 5, 3, [1, 4, 7], False),
    ("classify", "lstm", 2, 6, 0, True, 4, 3, [7, 3, 1], True),
    ("classify", "gru", 2, 11, E, True, 4, 3, [4, 8, 1], False),
    ("condlm", "gru", 1, 9, 0, False, 3, 3, [6, 4, 2], False),
    ("condlm", "lstm", 2, 5, E, False, 3, 3, [3, 7, 1], True),
]


def case_name(cell, relu, L, H, emb, B, T, nonzero):
    return "%s_l%d_h%d_%s_b%d_t%d%s" % (
        "rnnrelu" if relu else cell, L, H, "embed%d" % emb if emb else "onehot", B, T,
        "" if nonzero else "_zero")


def f32(t):
    """A tensor as a float32 numpy array (for writing)."""
    return t.detach().to(torch.float32).contiguous().numpy()


def make_case(index, case, outdir):
    cell, relu, L, H, emb, B, T, nonzero = case
    name = case_name(*case)
    torch.manual_seed(1000 + index)

    # The model, in float32 with PyTorch's default initialisation.
    model = CharRNN(cell, V, H, L, embed=emb, relu=relu)
    meta = {
        "format": "pt",
        "recur.cell": cell,
        "recur.layers": str(L),
        "recur.hidden": str(H),
        "recur.vocab": vocab_json(VOCAB),
    }
    if cell == "rnn":
        meta["recur.nonlinearity"] = "relu" if relu else "tanh"
    params = {k: f32(v) for k, v in model.state_dict().items()}
    st.write(os.path.join(outdir, name + ".model.safetensors"), params, meta)

    # One window of inputs and targets, and the initial state (float32 values).
    ids = torch.randint(V, (T, B))
    targets = torch.randint(V, (T, B))
    scale = 0.5 if nonzero else 0.0
    h0 = (torch.randn(L, B, H) * scale).to(torch.float32)
    c0 = (torch.randn(L, B, H) * scale).to(torch.float32) if cell == "lstm" else None

    # The reference: the same numbers in float64.
    ref = copy.deepcopy(model).double()
    h0d = h0.double().requires_grad_(True)
    c0d = c0.double().requires_grad_(True) if c0 is not None else None
    state = (h0d, c0d) if cell == "lstm" else h0d
    logits, final = ref(ids, state)
    loss = F.cross_entropy(logits.reshape(T * B, V), targets.reshape(T * B))  # mean over T*B
    loss.backward()

    out = {
        "ids": ids.to(torch.int64).numpy(),
        "targets": targets.to(torch.int64).numpy(),
        "h0": f32(h0),
        "logits": f32(logits),
        "loss": f32(loss),
        "grad.h0": f32(h0d.grad),
    }
    if cell == "lstm":
        out["c0"] = f32(c0)
        out["hn"], out["cn"] = f32(final[0]), f32(final[1])
        out["grad.c0"] = f32(c0d.grad)
    else:
        out["hn"] = f32(final)
    for pname, p in ref.named_parameters():
        out["grad." + pname] = f32(p.grad)
    desc = "%s%s, layers %d, hidden %d, %s, batch %d, T %d, %s initial state" % (
        cell, " (relu)" if relu else "", L, H, "embedding %d" % emb if emb else "one-hot",
        B, T, "non-zero" if nonzero else "zero")
    st.write(os.path.join(outdir, name + ".ref.safetensors"), out,
             {"case": desc, "torch": torch.__version__, "format": "pt"})
    return name, desc


def app_case_name(task, cell, L, H, emb, bi, O, B, lens, nonzero):
    return "%s_%s%s_l%d_h%d_%s_b%d_t%d_%s%d%s" % (
        task, "bi" if bi else "", cell, L, H, "embed%d" % emb if emb else "onehot", B, max(lens),
        "c" if task == "condlm" else "o", O, "" if nonzero else "_zero")


def make_app_case(index, case, outdir):
    task, cell, L, H, emb, bi, O, B, lens, nonzero = case
    name = app_case_name(*case)
    T, D = max(lens), 2 if bi else 1
    torch.manual_seed(2000 + index)

    labels = (CLASSES if task != "tag" else TAGS)[:O]
    assert len(labels) == O
    outputs = O if task in ("classify", "tag") else 0
    cond = O if task == "condlm" else 0
    model = CharRNN(cell, V, H, L, embed=emb, outputs=outputs, cond=cond, bidirectional=bi)
    meta = {
        "format": "pt",
        "recur.cell": cell,
        "recur.layers": str(L),
        "recur.hidden": str(H),
        "recur.vocab": vocab_json(VOCAB),
        "recur.task": task,
        "recur.labels": vocab_json(labels),
    }
    if bi:
        meta["recur.bidirectional"] = "1"
    if cell == "rnn":
        meta["recur.nonlinearity"] = "tanh"
    params = {k: f32(v) for k, v in model.state_dict().items()}
    st.write(os.path.join(outdir, name + ".model.safetensors"), params, meta)

    # The batch: rows of lens[b] real steps, padded at the end with arbitrary
    # (valid) ids that must never be read.
    lens_t = torch.tensor(lens, dtype=torch.int64)
    real = torch.arange(T).unsqueeze(1) < lens_t.unsqueeze(0)  # [T, B]
    ids = torch.randint(V, (T, B))
    scale = 0.5 if nonzero else 0.0
    h0 = (torch.randn(L * D, B, H) * scale).to(torch.float32)
    c0 = (torch.randn(L * D, B, H) * scale).to(torch.float32) if cell == "lstm" else None
    condt = torch.randint(O, (T, B)) if task == "condlm" else None
    if condt is not None and cell == "gru":
        condt = condt[0].unsqueeze(0).expand(T, B).contiguous()  # one class per row, as trained

    ref = copy.deepcopy(model).double()
    h0d = h0.double().requires_grad_(True)
    c0d = c0.double().requires_grad_(True) if c0 is not None else None
    state = (h0d, c0d) if cell == "lstm" else h0d
    out = {"ids": ids.to(torch.int64).numpy(), "lens": lens_t.numpy(), "h0": f32(h0)}
    if task == "classify":
        target = torch.randint(O, (B,))
        logits, final = ref.pooled(ids, state, lens=lens_t)
        loss = F.cross_entropy(logits, target)  # mean over the B rows
        out["labels"] = target.to(torch.int64).numpy()
    else:
        target = torch.where(real, torch.randint(O if outputs else V, (T, B)),
                             torch.full((T, B), -1, dtype=torch.int64))
        logits, final = ref(ids, state, lens=lens_t, cond=condt)
        n_out = logits.shape[2]
        # mean over the real positions only
        loss = F.cross_entropy(logits.reshape(T * B, n_out), target.reshape(T * B),
                               ignore_index=-1)
        out["targets"] = target.to(torch.int64).numpy()
        if condt is not None:
            out["cond"] = condt.to(torch.int64).numpy()
    loss.backward()
    out["logits"] = f32(logits)
    out["loss"] = f32(loss)
    out["grad.h0"] = f32(h0d.grad)
    if cell == "lstm":
        out["c0"] = f32(c0)
        out["hn"], out["cn"] = f32(final[0]), f32(final[1])
        out["grad.c0"] = f32(c0d.grad)
    else:
        out["hn"] = f32(final)
    for pname, p in ref.named_parameters():
        out["grad." + pname] = f32(p.grad)
    what = {"tag": "%d tags at every position" % O,
            "classify": "%d classes from the pooled final states" % O,
            "condlm": "language model conditioned on %d classes%s"
                      % (O, " (one per row)" if cell == "gru" else " (per position)")}[task]
    desc = "%s: %s%s, layers %d, hidden %d, %s, batch %d, lens %s, %s, %s initial state" % (
        task, "bidirectional " if bi else "", cell, L, H,
        "embedding %d" % emb if emb else "one-hot", B, lens, what,
        "non-zero" if nonzero else "zero")
    rmeta = {"case": desc, "torch": torch.__version__, "format": "pt"}
    if task == "classify":
        rmeta["pool"] = "1"
    st.write(os.path.join(outdir, name + ".ref.safetensors"), out, rmeta)
    return name, desc


def main():
    ap = argparse.ArgumentParser(
        prog="make_fixtures.py",
        description="Write the PyTorch reference fixtures of tests/test_parity.c "
                    "(<case>.model.safetensors and <case>.ref.safetensors per case).")
    ap.add_argument("outdir", metavar="OUTDIR", help="where to write them (tests/fixtures)")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    torch.set_num_threads(1)  # one thread keeps the order of every float64 sum fixed
    for i, case in enumerate(CASES):
        name, desc = make_case(i, case, args.outdir)
        print("%-42s %s" % (name, desc))
    for i, case in enumerate(APP_CASES):
        name, desc = make_app_case(i, case, args.outdir)
        print("%-42s %s" % (name, desc))
    print("%d cases written to %s" % (len(CASES) + len(APP_CASES), args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
