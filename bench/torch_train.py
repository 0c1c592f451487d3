#!/usr/bin/python3
"""PyTorch's twin of `recur train` for the time-to-quality comparison
(bench/time_to_quality.sh, docs/benchmarks.md).

The same recipe as recur train: the last --val-frac of the text held out;
B streams over the rest (stream k starts at character k * (n // B)), windows
of T characters, the state carried from window to window and reset at each
epoch; one-hot input -> nn.LSTM/GRU/RNN (dropout between layers) -> nn.Linear;
Adam (lr 2e-3 by default), gradients clipped to global norm 5; validation
every --eval-every steps over the held-out text as min(B, n_val // (T+1))
streams from a zero state, mean cross-entropy in nats per character.

Prints one JSON line per validation: step, val_loss, elapsed_s (wall time
since training started, validation included, as recur's --log). Stops at
the first validation at or below --target, or after --max-seconds.

    OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_train.py \\
        data/tinyshakespeare.txt --cell lstm --hidden 512 --layers 2 --dropout 0.2 \\
        --threads 1 --target 1.55 --max-seconds 3600
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# The shared model and data code (bench/torch_common.py), found next to this
# file whatever the working directory (and under python3 -P / -I too).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import CharLM, detach, read_text  # noqa: E402


def zero_state(cell, L, B, H):
    z = torch.zeros(L, B, H)
    return (z, z.clone()) if cell == "lstm" else z


class Streams:
    """B streams of windows over ids, as recur's batcher."""

    def __init__(self, ids, B, T):
        self.ids, self.B, self.T = ids, B, T
        per = len(ids) // B
        if per < T + 1:
            raise SystemExit("text too short for %d streams of %d" % (B, T + 1))
        self.start = torch.arange(B) * per
        self.windows = (per - 1) // T
        self.w = 0

    def next(self):
        new_epoch = self.w == 0
        off = self.start + self.w * self.T
        idx = off[None, :] + torch.arange(self.T + 1)[:, None]  # [T+1, B]
        win = self.ids[idx]
        self.w = (self.w + 1) % self.windows
        return win[:-1], win[1:], new_epoch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("text")
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=50)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--val-frac", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--target", type=float, default=1.55)
    ap.add_argument("--max-seconds", type=float, default=3600)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    vocab, ids = read_text(a.text)
    at = len(ids) - int(len(ids) * a.val_frac)
    train, val = ids[:at], ids[at:]
    B, T, H, L = a.batch, a.seq, a.hidden, a.layers
    vb = min(B, len(val) // (T + 1))

    model = CharLM(a.cell, len(vocab), H, L, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    streams = Streams(train, B, T)

    def validate():
        model.eval()
        vs = Streams(val, vb, T)
        state, total, n = zero_state(a.cell, L, vb, H), 0.0, 0
        with torch.no_grad():
            for _ in range(vs.windows):
                x, y, _ = vs.next()
                logits, state = model(x, state)
                total += F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1), reduction="sum").item()
                n += y.numel()
        model.train()
        return total / n

    state = zero_state(a.cell, L, B, H)
    t0 = time.monotonic()
    step = 0
    while True:
        x, y, new_epoch = streams.next()
        if new_epoch:
            state = zero_state(a.cell, L, B, H)
        logits, state = model(x, state)
        state = detach(state)
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), a.clip)
        opt.step()
        step += 1
        if step % a.eval_every == 0:
            vl = validate()
            el = time.monotonic() - t0
            print(json.dumps({"impl": "pytorch", "step": step, "chars": step * B * T, "val_loss": round(vl, 6),
                              "train_loss": round(loss.item(), 6), "elapsed_s": round(el, 2)}), flush=True)
            if vl <= a.target or el > a.max_seconds:
                return 0


if __name__ == "__main__":
    sys.exit(main())
