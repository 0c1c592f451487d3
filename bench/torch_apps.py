#!/usr/bin/env python3
"""recur's applications in PyTorch: `recur classify train` (many-to-one) and
`recur tag train` (many-to-many), the same model and the same recipe, for the
parity bench (bench/app_parity.sh, issue #14).

    torch_apps.py classify DATA [options]            DATA: a directory of
        <Label>.txt files (data/names) or a label<TAB>text file
    torch_apps.py tag TRAIN --dev DEV [--test TEST] [options]   CoNLL-style

Prints one JSON line: the validation accuracy of the kept (best) model, the
test accuracy (tag, with --test), seed, threads, sizes, seconds.

What is the same as recur (src/tasks/apps.c, task_seq.c, seqtask.c,
src/data/dataset_class.c, dataset_tag.c, src/train/engine.c, src/nn/):

- data: lines split on LF (a CR before it dropped, a leading BOM skipped);
  classification texts trimmed of spaces, TABs and CRs, empty ones skipped,
  repeated (label, text) pairs removed (the first kept), labels sorted by
  their UTF-8 bytes; tagging: a blank line ends a sentence, a '#' line
  without a TAB is a comment, the tag is column 2 (--column).
- the split: recur's stratified split, reimplemented bit for bit (its
  xoshiro256** generator seeded with --seed; per class, a Fisher-Yates
  shuffle and the first round(frac * n) to validation, at least 1 and at
  most n - 1). bench/app_split_dump.c prints recur's own split to check it.
- characters: the vocabulary is the training texts' characters (by code
  point) plus U+FFFD, which stands for any character not seen in training
  (tagging adds the space that joins the tokens). A tagged sentence is its
  tokens joined by single spaces; each token's tag is predicted at its last
  character.
- the model: nn.Embedding (N(0,1)) -> nn.GRU/LSTM/RNN, bidirectional ->
  nn.Linear. Classification reads the final states (forward after the last
  character, reverse after reading back to the first); tagging reads the
  top layer's output at every position. --impl flip (default): a
  single-layer module per layer and direction, the reverse one reading each
  row reversed within its own length; --impl packed: one bidirectional
  module on pack_padded_sequence (the same function, much slower on CPU for
  long sentences; see AppNet).
- --init recur (default): the initial weights are recur's own, drawn from
  its generator in its order (every recurrent weight, bias and the head
  U(-1/sqrt(H), 1/sqrt(H)), the embedding N(0, 1)); --init torch uses
  PyTorch's defaults (the head's bound is then 1/sqrt(D*H)).
- batches: --order recur (default): each epoch recur's order (its generator
  seeded with seed ^ 0x0123456789abcdef shuffles the previous order, then
  sorts by length within chunks of 50 batches, ties by index); --order
  torch: torch.randperm, then the same chunked sort. Padded at the end;
  padding never reaches a real step (see --impl).
- the loss: cross-entropy, mean over the batch's targets (sequences, or
  tagged tokens). Adam (betas 0.9/0.999, eps 1e-8; also sgd, rmsprop,
  adagrad as recur writes them), decoupled weight decay on the weight
  matrices only, clipping of the global gradient norm, the step schedule
  (the rate times --lr-decay after every epoch, or every --lr-decay-every
  steps), warm-up, cosine, plateau; a step whose loss or gradient is not
  finite is skipped and the rate halved.
- validation after every epoch (or every --eval-every steps) and at the last
  step; the kept model has the highest validation accuracy (ties: the lower
  loss). Steps: ceil(epochs * batches per epoch).

Checks: --check-init CKPT compares the initial model with recur's (a model
saved after one step at --lr 1e-12); --eval-recur CKPT scores recur's trained
model in this PyTorch model (it gives recur's accuracy and loss).

Not the same: dropout masks come from torch's generator (recur: its own);
--variational is not supported; floating-point summation order differs, so
long runs drift apart in the last bits and then further (on the smoke data,
3 epochs of names gave the same accuracy and a loss 1e-6 apart).
"""
import argparse
import copy
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

M64 = (1 << 64) - 1
UNK = "\ufffd"
CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# recur's application defaults (src/tasks/apps.c recur_app_config_default);
# bench/app_parity.sh passes the values `recur ... --help` prints instead.
DEFAULTS = {
    "classify": dict(cell="gru", hidden=128, layers=1, embed=32, bidirectional=True, batch=32,
                     epochs=10.0),
    "tag": dict(cell="lstm", hidden=128, layers=2, embed=32, bidirectional=True, batch=16,
                epochs=5.0),
}


# ---------------------------------------------------------------- recur's generator

class Rng:
    """xoshiro256** seeded by splitmix64 (src/base/rng.c), bit for bit."""

    def __init__(self, seed):
        x = seed & M64
        s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            s.append(z ^ (z >> 31))
        self.s = s

    def next(self):
        s0, s1, s2, s3 = self.s
        x = (s1 * 5) & M64
        result = ((((x << 7) | (x >> 57)) & M64) * 9) & M64
        t = (s1 << 17) & M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & M64
        self.s = [s0, s1, s2, s3]
        return result

    def below(self, n):
        """draw_below: uniform in [0, n) by rejection."""
        threshold = ((1 << 64) - n) % n
        while True:
            x = self.next()
            if x >= threshold:
                return x % n

    def uniform_f32(self):
        return (self.next() >> 40) * (1.0 / 16777216.0)

    def normal_f32(self):
        u1 = 1.0 - (self.next() >> 11) * (1.0 / 9007199254740992.0)
        u2 = (self.next() >> 11) * (1.0 / 9007199254740992.0)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2)


# ---------------------------------------------------------------- reading

def read_lines(path):
    """The lines of a file as recur's line_iter gives them (decoded)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    if not data:
        return []
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    out = []
    for i, p in enumerate(parts):
        if p.endswith(b"\r"):
            p = p[:-1]
        try:
            out.append(p.decode("utf-8"))
        except UnicodeDecodeError:
            sys.exit(f"{path}:{i + 1}: invalid UTF-8")
    return out


def trim(s):
    return s.strip(" \t\r")


def bkey(s):
    return s.encode("utf-8")


def read_classes(path):
    """(labels, examples [(label id, text)], duplicates) as class_read makes
    them: examples grouped by label, each in the order first read."""
    raw = []  # (label text, text) in reading order
    if os.path.isdir(path):
        files = []
        for name in os.listdir(path):
            full = os.path.join(path, name)
            if name.startswith(".") or len(name) <= 4 or not name.endswith(".txt"):
                continue
            if os.path.isfile(full):
                files.append((name[:-4], full))
        files.sort(key=lambda f: bkey(f[0]))
        for label, full in files:
            before = len(raw)
            for line in read_lines(full):
                t = trim(line)
                if t:
                    raw.append((label, t))
            if len(raw) == before:
                sys.exit(f"{full}: no examples")
    else:
        for i, line in enumerate(read_lines(path)):
            if not trim(line):
                continue
            tab = line.find("\t")
            if tab < 0:
                sys.exit(f"{path}:{i + 1}: no TAB between the label and the text")
            label, text = trim(line[:tab]), trim(line[tab + 1:])
            if not label or not text:
                sys.exit(f"{path}:{i + 1}: empty label or text")
            raw.append((label, text))
    labels = sorted({lab for lab, _ in raw}, key=bkey)
    lid = {lab: i for i, lab in enumerate(labels)}
    seen, kept = set(), []
    for lab, text in raw:
        if (lab, text) not in seen:
            seen.add((lab, text))
            kept.append((lid[lab], text))
    kept.sort(key=lambda e: e[0])  # stable: reading order within a label
    return labels, kept, len(raw) - len(kept)


def split_stratified(examples, nlabels, val_frac, seed):
    """class_split_stratified: (train indices, val indices), each ascending."""
    by_class = [[] for _ in range(nlabels)]
    for i, (lab, _) in enumerate(examples):
        by_class[lab].append(i)
    r = Rng(seed)
    train, val = [], []
    for seg in by_class:
        n = len(seg)
        for i in range(n, 1, -1):
            j = r.below(i)
            seg[i - 1], seg[j] = seg[j], seg[i - 1]
        if val_frac == 0 or n < 2:
            k = 0
        else:
            k = min(max(int(val_frac * n + 0.5), 1), n - 1)
        val += seg[:k]
        train += seg[k:]
    return sorted(train), sorted(val)


def read_tagged(path, column):
    """[(tokens, tag texts)] per sentence, as tag_read reads them."""
    sents, toks, tags = [], [], []
    for i, line in enumerate(read_lines(path)):
        if not line.strip(" \t"):
            if toks:
                sents.append((toks, tags))
                toks, tags = [], []
            continue
        if line.startswith("#") and "\t" not in line:
            continue
        cols = line.split("\t")
        if len(cols) < column or not cols[0] or not cols[column - 1]:
            sys.exit(f"{path}:{i + 1}: no token or no tag in column {column}")
        toks.append(cols[0])
        tags.append(cols[column - 1])
    if toks:
        sents.append((toks, tags))
    if not sents:
        sys.exit(f"{path}: no tokens")
    return sents


class Vocab:
    def __init__(self, texts, extra):
        chars = set(extra)
        for t in texts:
            chars.update(t)
        self.chars = sorted(chars)
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.unk = self.index[UNK]

    def encode(self, text):
        return [self.index.get(c, self.unk) for c in text]


def tag_items(sents, vocab, tagid):
    """Each sentence as (ids, targets): tokens joined by a space, the tag at
    each token's last character, -1 elsewhere (and for an unknown tag)."""
    space = vocab.index[" "]
    items, unknown = [], 0
    for toks, tags in sents:
        ids, tgt = [], []
        for tok, tag in zip(toks, tags):
            if ids:
                ids.append(space)
                tgt.append(-1)
            e = vocab.encode(tok)
            ids += e
            tgt += [-1] * len(e)
            t = tagid.get(tag, -1)
            unknown += t < 0
            tgt[-1] = t
        items.append((ids, tgt))
    return items, unknown


# ---------------------------------------------------------------- the model

class AppNet(nn.Module):
    """embed -> stacked (bidirectional) recurrent layers -> linear head, read
    on the final states (pool) or at every position.

    impl "flip" (default): one single-layer nn.GRU/LSTM/RNN per layer and
    direction on the padded batch; the reverse unit reads each row reversed
    within its own length (a gather), so that, as in recur, padding comes
    after every row's real steps in both directions and never reaches them.
    impl "packed": one nn.GRU/LSTM/RNN(bidirectional=True) on
    pack_padded_sequence. The two compute the same function; on CPU the
    packed backward costs time quadratic in the length (each step's slice
    of the packed gradient is summed into a full-size tensor), which makes
    it tens of times slower on EWT's sentences of hundreds of characters."""

    def __init__(self, V, O, a, pool):
        super().__init__()
        self.V, self.pool, self.cell, self.impl = V, pool, a.cell, a.impl
        self.H, self.L = a.hidden, a.layers
        self.D = 2 if a.bidirectional else 1
        self.embed = nn.Embedding(V, a.embed) if a.embed else None
        self.drop_in = nn.Dropout(a.dropout_in)
        if self.impl == "packed":
            self.rnn = CELLS[a.cell](a.embed or V, a.hidden, a.layers, bidirectional=self.D == 2,
                                     dropout=a.dropout if a.layers > 1 else 0.0)
        else:
            self.units = nn.ModuleList(
                CELLS[a.cell]((a.embed or V) if layer == 0 else self.D * a.hidden, a.hidden, 1)
                for layer in range(a.layers) for _ in range(self.D))
            self.drop_mid = nn.Dropout(a.dropout if a.layers > 1 else 0.0)
        self.drop_out = nn.Dropout(a.dropout_out)
        self.head = nn.Linear(self.D * a.hidden, O)

    def recur_parameters(self):
        """(recur's tensor name, parameter) in recur's order (model.c)."""
        out = []
        if self.embed is not None:
            out.append(("embed.weight", self.embed.weight))
        for layer in range(self.L):
            for d in range(self.D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    if self.impl == "packed":
                        p = getattr(self.rnn, kind + sfx)
                    else:
                        p = getattr(self.units[layer * self.D + d], kind + "_l0")
                    out.append((f"rnn.{kind}{sfx}", p))
        return out + [("head.weight", self.head.weight), ("head.bias", self.head.bias)]

    def forward(self, ids, lens, where=None):
        """ids [T, B] (padded at the end), lens [B] (CPU). Pool: logits [B, O];
        else logits at the positions where [T, B] is true ([N, O])."""
        x = self.embed(ids) if self.embed is not None else F.one_hot(ids, self.V).float()
        x = self.drop_in(x)
        if self.impl == "packed":
            out, h = self.rnn(pack_padded_sequence(x, lens, enforce_sorted=False))
            if self.pool:
                if self.cell == "lstm":
                    h = h[0]
                # h [L*D, B, H]: the top layer's forward (at each row's last
                # character) and reverse (after reading back to its first) states
                feat = torch.cat([h[-self.D + d] for d in range(self.D)], dim=1)
                return self.head(self.drop_out(feat))
            out, _ = pad_packed_sequence(out, total_length=ids.shape[0])
            return self.head(self.drop_out(out[where]))
        T, B = ids.shape
        t = torch.arange(T).unsqueeze(1)
        n = lens.unsqueeze(0)
        rev = torch.where(t < n, n - 1 - t, t)  # row b's step t <-> its step len-1-t

        def flip(y):
            return y.gather(0, rev.unsqueeze(-1).expand_as(y))

        for layer in range(self.L):
            if layer > 0:
                x = self.drop_mid(x)
            outs = []
            for d in range(self.D):
                o, _ = self.units[layer * self.D + d](flip(x) if d else x)
                outs.append(flip(o) if d else o)
            x = torch.cat(outs, dim=2) if self.D == 2 else outs[0]
        if self.pool:
            # the forward state after each row's last character; the reverse
            # state after reading back to its first (sequence position 0)
            feat = x[lens - 1, torch.arange(B), :self.H]
            if self.D == 2:
                feat = torch.cat([feat, x[0, :, self.H:]], dim=1)
            return self.head(self.drop_out(feat))
        return self.head(self.drop_out(x[where]))


def recur_init(model, a, seed):
    """recur's model_init: its generator seeded with the seed, the parameters
    in its order (embed, per layer and direction weight_ih, weight_hh,
    bias_ih, bias_hh, then head weight and bias); every one but the embedding
    U(-k, k) with k = 1/sqrt(H) in float32 arithmetic, the embedding N(0, 1)."""
    r = Rng(seed)
    k = float(np.float32(1.0) / np.sqrt(np.float32(a.hidden)))
    with torch.no_grad():
        for name, p in model.recur_parameters():
            n = p.numel()
            if name == "embed.weight":
                v = [r.normal_f32() for _ in range(n)]
            else:
                v = [(2.0 * r.uniform_f32() - 1.0) * k for _ in range(n)]
            p.copy_(torch.from_numpy(np.asarray(v, dtype=np.float32).reshape(p.shape)))


# ---------------------------------------------------------------- batches

class Order:
    """Each epoch's order of the training items: shuffled, then sorted by
    length within chunks of 50 batches (ties by index), as seq_epoch_order."""

    def __init__(self, lens, batch, seed, kind):
        self.lens, self.batch, self.kind = lens, batch, kind
        self.idx = list(range(len(lens)))
        self.rng = Rng(seed ^ 0x0123456789ABCDEF) if kind == "recur" else None
        self.gen = torch.Generator().manual_seed(seed) if kind == "torch" else None

    def new_epoch(self):
        idx = self.idx
        if self.kind == "recur":
            for i in range(len(idx), 1, -1):
                j = self.rng.next() % i
                idx[i - 1], idx[j] = idx[j], idx[i - 1]
        else:
            idx = [idx[i] for i in torch.randperm(len(idx), generator=self.gen).tolist()]
        chunk = self.batch * 50
        for c in range(0, len(idx), chunk):
            idx[c:c + chunk] = sorted(idx[c:c + chunk], key=lambda i: (self.lens[i], i))
        self.idx = idx


def make_batch(items, which, pool):
    """(ids [T, B], lens [B], targets): [B] labels (pool) or [T, B] tags."""
    lens = [len(items[i][0]) for i in which]
    T = max(lens)
    ids = torch.zeros(T, len(which), dtype=torch.long)
    for b, i in enumerate(which):
        ids[:lens[b], b] = torch.tensor(items[i][0], dtype=torch.long)
    if pool:
        tgt = torch.tensor([items[i][1] for i in which], dtype=torch.long)
    else:
        tgt = torch.full((T, len(which)), -1, dtype=torch.long)
        for b, i in enumerate(which):
            tgt[:lens[b], b] = torch.tensor(items[i][1], dtype=torch.long)
    return ids, torch.tensor(lens, dtype=torch.long), tgt


def logits_and_targets(model, items, which, pool):
    ids, lens, tgt = make_batch(items, which, pool)
    if pool:
        return model(ids, lens), tgt
    where = tgt >= 0
    return model(ids, lens, where), tgt[where]


@torch.no_grad()
def evaluate(model, items, pool, batch=256):
    """(mean loss, correct, counted) over the items' targets, in batches of
    similar length (the sums do not depend on the batching)."""
    model.eval()
    loss, correct, total = 0.0, 0, 0
    by_len = sorted(range(len(items)), key=lambda i: len(items[i][0]))
    for s in range(0, len(items), batch):
        z, y = logits_and_targets(model, items, by_len[s:s + batch], pool)
        if y.numel() == 0:
            continue
        loss += F.cross_entropy(z, y, reduction="sum").item()
        correct += (z.argmax(1) == y).sum().item()
        total += y.numel()
    model.train()
    return (loss / total if total else math.nan), correct, total


# ---------------------------------------------------------------- training

def make_optimizer(params, a):
    if a.optim == "adam":
        return torch.optim.Adam(params, lr=a.lr, betas=(0.9, 0.999), eps=1e-8)
    if a.optim == "sgd":
        return torch.optim.SGD(params, lr=a.lr, momentum=a.momentum)
    if a.optim == "rmsprop":
        return torch.optim.RMSprop(params, lr=a.lr, alpha=0.99, eps=1e-8)
    return torch.optim.Adagrad(params, lr=a.lr, eps=1e-8)


def schedule_factor(a, s, total):
    """engine.c schedule_factor: warm-up, then cosine (1 for step/constant)."""
    f = 1.0
    if a.warmup > 0 and s < a.warmup:
        f = (s + 1) / a.warmup
    if a.schedule == "cosine" and s >= a.warmup:
        span = total - a.warmup
        p = (s - a.warmup) / span if span > 0 else 1.0
        lo = a.lr_min / a.lr
        f *= lo + (1.0 - lo) * 0.5 * (1.0 + math.cos(math.pi * p))
    return f


def train(model, train_items, val_items, pool, a, log):
    """Trains in place; returns the facts of the run and leaves the best
    model's weights in the model."""
    params = list(model.parameters())
    matrices = [p for p in params if p.dim() == 2]  # weight decay: not biases
    opt = make_optimizer(params, a)
    order = Order([len(it[0]) for it in train_items], a.batch, a.seed, a.order)
    per_epoch = (len(train_items) + a.batch - 1) // a.batch
    total = a.steps if a.steps > 0 else max(1, math.ceil(a.epochs * per_epoch))
    every_decay = a.lr_decay_every if a.lr_decay_every > 0 else per_epoch
    f32 = lambda x: float(np.float32(x))  # recur keeps the running rate in a float
    lr = f32(a.lr)
    pos, epoch = per_epoch, 0
    best = dict(acc=math.nan, loss=math.nan, step=0, state=None)
    plateau_best, plateau = math.nan, 0
    step, skips = 0, 0
    model.train()
    while step < total:
        if pos == per_epoch:
            order.new_epoch()
            pos, epoch = 0, epoch + 1
        which = order.idx[pos * a.batch:(pos + 1) * a.batch]
        pos += 1
        lr_now = f32(lr * schedule_factor(a, step, total))
        z, y = logits_and_targets(model, train_items, which, pool)
        loss = F.cross_entropy(z, y)  # mean over the batch's targets
        opt.zero_grad(set_to_none=False)
        loss.backward()
        if a.clip > 0 and a.clip_mode == "value":
            norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)).item()
            torch.nn.utils.clip_grad_value_(params, a.clip)
        elif a.clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(params, a.clip).item()
        else:
            norm = torch.sqrt(sum((p.grad.double() ** 2).sum() for p in params)).item()
        if not (math.isfinite(loss.item()) and math.isfinite(norm)):
            skips += 1
            lr = f32(lr * 0.5)
            if skips >= 10:
                sys.exit("training diverged: 10 non-finite steps in a row")
            continue  # a skipped step is not a step (the batch is used up)
        skips = 0
        for g in opt.param_groups:
            g["lr"] = lr_now
        if a.weight_decay > 0:
            with torch.no_grad():
                for p in matrices:
                    p.mul_(1.0 - lr_now * a.weight_decay)
        opt.step()
        step += 1
        if a.schedule == "step" and step % every_decay == 0:
            lr = f32(np.float32(lr) * np.float32(a.lr_decay))
        evaluate_now = step % a.eval_every == 0 if a.eval_every > 0 else step % per_epoch == 0
        if val_items and (evaluate_now or step == total):
            vloss, correct, counted = evaluate(model, val_items, pool)
            acc = correct / counted if counted else math.nan
            if a.schedule == "plateau" and math.isfinite(vloss):
                if math.isnan(plateau_best) or vloss < plateau_best:
                    plateau_best, plateau = vloss, 0
                else:
                    plateau += 1
                    if plateau >= a.patience:
                        lr = f32(np.float32(lr) * np.float32(a.lr_decay))
                        plateau = 0
            better = (math.isnan(best["acc"]) or acc > best["acc"] or
                      (acc == best["acc"] and math.isfinite(vloss) and
                       (math.isnan(best["loss"]) or vloss < best["loss"])))
            if better:
                best.update(acc=acc, loss=vloss, step=step, state=copy.deepcopy(model.state_dict()))
            log(f"step {step}/{total} epoch {epoch} | val loss {vloss:.4f} | val accuracy {acc:.4f}"
                f"{' best' if better else ''}")
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return dict(steps=total, steps_per_epoch=per_epoch, best_step=best["step"])


# ---------------------------------------------------------------- checks

def read_safetensors(path):
    """{name: numpy array} and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    kinds = {"F32": np.float32, "I64": np.int64, "I32": np.int32, "BF16": None}
    out = {}
    for name, t in header.items():
        lo, hi = t["data_offsets"]
        if kinds.get(t["dtype"]) is None:
            continue
        out[name] = np.frombuffer(data[lo:hi], dtype=kinds[t["dtype"]]).reshape(t["shape"])
    return out, meta


def compare_init(model, vocab, labels, path):
    """Checks that this model (as initialised) is recur's at `path` (a model
    saved after one step at a negligible learning rate): vocabulary, labels
    and every weight."""
    w, meta = read_safetensors(path)
    ok = json.loads(meta.get("recur.vocab", "[]")) == vocab.chars
    ok &= json.loads(meta.get("recur.labels", "[]")) == labels
    if not ok:
        print(f"init check: {path} has another vocabulary or other labels than this data")
        return False
    worst = 0.0
    mine = model.recur_parameters()
    if len(mine) != len([k for k in w if not k.startswith("train.")]):
        print(f"init check: {path} holds other tensors than {[n for n, _ in mine]}")
        return False
    for name, p in mine:
        if name not in w or tuple(w[name].shape) != tuple(p.shape):
            print(f"init check: {name} missing or of another shape in {path}")
            return False
        worst = max(worst, float(np.abs(w[name] - p.detach().numpy()).max()))
    print(json.dumps({"init_check": path, "vocab_and_labels_equal": True, "max_abs_weight_diff": worst}))
    return worst < 1e-6


def load_recur(model, vocab, labels, path):
    """Puts the weights of recur's checkpoint at path into the model (same
    vocabulary and labels required)."""
    w, meta = read_safetensors(path)
    if json.loads(meta.get("recur.vocab", "[]")) != vocab.chars or \
            json.loads(meta.get("recur.labels", "[]")) != labels:
        sys.exit(f"{path}: another vocabulary or other labels than this data's")
    with torch.no_grad():
        for name, p in model.recur_parameters():
            if name not in w or tuple(w[name].shape) != tuple(p.shape):
                sys.exit(f"{path}: no {name} of shape {tuple(p.shape)}")
            p.copy_(torch.from_numpy(w[name].copy()))


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["classify", "tag"])
    ap.add_argument("data", help="classify: a directory or a label<TAB>text file; tag: the training file")
    ap.add_argument("--dev", help="tag: the validation sentences")
    ap.add_argument("--test", help="tag: also report the kept model's accuracy on these")
    ap.add_argument("--column", type=int, default=0, help="tag: the tag column, 1-based (0: 2)")
    ap.add_argument("--cell", choices=list(CELLS))
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--embed", type=int)
    bi = ap.add_mutually_exclusive_group()
    bi.add_argument("--bidirectional", dest="bidirectional", action="store_true", default=None)
    bi.add_argument("--unidirectional", dest="bidirectional", action="store_false")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--dropout-in", type=float, default=0.0)
    ap.add_argument("--dropout-out", type=float, default=0.0)
    ap.add_argument("--variational", action="store_true", help="(not supported: an error)")
    ap.add_argument("--batch", type=int)
    ap.add_argument("--val-frac", type=float, default=0.1)
    ap.add_argument("--epochs", type=float)
    ap.add_argument("--steps", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=0)
    ap.add_argument("--optim", choices=["adam", "sgd", "rmsprop", "adagrad"], default="adam")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--schedule", choices=["step", "constant", "cosine", "plateau"], default="step")
    ap.add_argument("--lr-decay", type=float, default=None, help="default 0.9 (plateau: 0.5)")
    ap.add_argument("--lr-decay-every", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--lr-min", type=float, default=0.0)
    ap.add_argument("--patience", type=int, default=2)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--clip-mode", choices=["norm", "value"], default="norm")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--init", choices=["recur", "torch"], default="recur")
    ap.add_argument("--order", choices=["recur", "torch"], default="recur")
    ap.add_argument("--impl", choices=["flip", "packed"], default="flip",
                    help="per-direction units on the padded batch, or one bidirectional module on packed sequences")
    ap.add_argument("--dump-split", metavar="FILE", help="classify: write the split as recur's bench/app_split_dump.c does")
    ap.add_argument("--check-init", metavar="CKPT", help="compare the initial model with recur's CKPT and exit")
    ap.add_argument("--eval-recur", metavar="CKPT", help="no training: score recur's trained CKPT (the same data and seed) here")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    for k, v in DEFAULTS[a.mode].items():
        if getattr(a, k) is None:
            setattr(a, k, v)
    if a.lr_decay is None:
        a.lr_decay = 0.5 if a.schedule == "plateau" else 0.9
    if a.variational:
        ap.error("--variational is not implemented here")
    if a.mode == "tag" and not a.dev:
        ap.error("tag needs --dev (recur's own split of a training file is not implemented here)")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    t0 = time.time()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    log = (lambda s: None) if a.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    pool = a.mode == "classify"
    facts = {}
    if pool:
        labels, ex, dups = read_classes(a.data)
        tr, va = split_stratified(ex, len(labels), a.val_frac, a.seed)
        if a.dump_split:
            with open(a.dump_split, "w", encoding="utf-8", newline="\n") as f:
                for part, idx in (("train", tr), ("val", va)):
                    for i in idx:
                        f.write(f"{part}\t{labels[ex[i][0]]}\t{ex[i][1]}\n")
        vocab = Vocab([ex[i][1] for i in tr], UNK)
        train_items = [(vocab.encode(ex[i][1]), ex[i][0]) for i in tr]
        val_items = [(vocab.encode(ex[i][1]), ex[i][0]) for i in va]
        facts.update(train_examples=len(tr), val_examples=len(va), duplicates_removed=dups)
        unknown_val = 0
    else:
        column = a.column or 2
        tr_s = read_tagged(a.data, column)
        labels = sorted({t for _, tags in tr_s for t in tags}, key=bkey)
        tagid = {t: i for i, t in enumerate(labels)}
        vocab = Vocab([tok for toks, _ in tr_s for tok in toks], " " + UNK)
        train_items, _ = tag_items(tr_s, vocab, tagid)
        val_items, unknown_val = tag_items(read_tagged(a.dev, column), vocab, tagid)
        facts.update(train_sentences=len(train_items), val_sentences=len(val_items))
    model = AppNet(len(vocab.chars), len(labels), a, pool)
    if a.init == "recur":
        recur_init(model, a, a.seed)
    if a.check_init:
        sys.exit(0 if compare_init(model, vocab, labels, a.check_init) else 1)
    log(f"torch_apps {a.mode}: {a.data}, {'bidirectional ' if a.bidirectional else ''}{a.cell}, "
        f"hidden {a.hidden}, layers {a.layers}, embed {a.embed}, batch {a.batch}, {a.optim} lr {a.lr} "
        f"({a.schedule}, decay {a.lr_decay}), clip {a.clip}, epochs {a.epochs}, seed {a.seed}, "
        f"threads {a.threads}, init {a.init}, order {a.order}, impl {a.impl}; vocabulary {len(vocab.chars)}, "
        f"{len(labels)} labels, {sum(p.numel() for p in model.parameters())} parameters")
    t1 = time.time()
    if a.eval_recur:
        load_recur(model, vocab, labels, a.eval_recur)
        run = dict(eval_recur=a.eval_recur)
    else:
        run = train(model, train_items, val_items, pool, a, log)
    train_s = time.time() - t1
    val_loss, correct, counted = evaluate(model, val_items, pool)
    # unknown tags (not in the training file) are misses, as recur counts them
    val_acc = correct / (counted + unknown_val) if counted + unknown_val else math.nan
    out = dict(engine="pytorch", mode=a.mode, data=a.data, seed=a.seed, threads=a.threads,
               val_accuracy=round(val_acc, 6), val_correct=correct, val_total=counted + unknown_val,
               val_loss=round(val_loss, 6))
    if not pool and a.test:
        test_items, unknown_test = tag_items(read_tagged(a.test, a.column or 2), vocab, tagid)
        _, tc, tn = evaluate(model, test_items, pool)
        out.update(test_accuracy=round(tc / (tn + unknown_test), 6), test_correct=tc,
                   test_total=tn + unknown_test)
    out.update(facts)
    out.update(run, epochs=a.epochs, init=a.init, order=a.order, impl=a.impl, torch=torch.__version__,
               train_seconds=round(train_s, 2), seconds=round(time.time() - t0, 2))
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
