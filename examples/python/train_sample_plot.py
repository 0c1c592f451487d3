#!/usr/bin/python3
"""train_sample_plot.py - recur from Python, end to end: train a small
character-level LSTM with a progress line per event, sample from it, and
plot how well it predicts each character of a text to a PNG.

    PYTHONPATH=python python3 examples/python/train_sample_plot.py \
        [--text data/tinyshakespeare.txt] [--steps 300] [--out-dir out]

The plot shows, for every character of a line of the text, the probability
the model gave it from the characters before it: exp(-loss), where the
loss of character i is the difference of recur's summed losses on the text
up to i and up to i-1 (Model.eval). It needs matplotlib (python3-matplotlib);
without it the script says so and skips the plot. (A unit's activation over
the text needs the library's trace call, which Model.trace will expose.)
"""

import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # the source tree's module
import recur  # noqa: E402


def progress(ev: recur.TrainEvent) -> None:
    if ev.kind == "step" and (ev.step % 20 == 0 or ev.step == ev.total_steps):
        print("\rstep %d/%d  loss %.3f  %.0f chars/s" % (ev.step, ev.total_steps, ev.train_loss,
                                                         ev.chars_per_s), end="", flush=True)
    elif ev.kind == "eval":
        print("\n  validation %.3f nats/char" % ev.val_loss)


def char_probabilities(model: recur.Model, text: str) -> list:
    """p(text[i] | text[:i]) for i >= 1, from the model's summed losses."""
    probs, prev = [], 0.0
    for i in range(2, len(text) + 1):
        total = model.eval(text[:i]).nats_per_char * (i - 1)
        probs.append(math.exp(-(total - prev)))
        prev = total
    return probs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--text", default=os.path.join(HERE, "..", "..", "data", "tinyshakespeare.txt"))
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--out-dir", default=".")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    ckpt = os.path.join(args.out_dir, "example.safetensors")

    try:
        model = recur.train(args.text, out=ckpt, cell="lstm", hidden=64, layers=1, seq=32,
                            batch=16, steps=args.steps, lr=0.005, threads=args.threads,
                            callback=progress)
    except KeyboardInterrupt:
        print("\ninterrupted: the resumable state is in", ckpt.replace(".safetensors",
                                                                        ".last.safetensors"))
        return 130
    print("\n%r" % model)
    print("--- sample, temperature 0.8:")
    print("ROMEO:" + model.sample(prime="ROMEO:", length=200, temperature=0.8, seed=1))

    line = "First Citizen:\nBefore we proceed any further, hear me speak."
    probs = char_probabilities(model, line)
    print("--- mean probability of the right next character: %.3f" % (sum(probs) / len(probs)))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (python3-matplotlib): no plot")
        return 0
    fig, ax = plt.subplots(figsize=(12, 3))
    ax.bar(range(len(probs)), probs, color="tab:blue")
    ax.set_xticks(range(len(probs)))
    ax.set_xticklabels([c if c != "\n" else "\\n" for c in line[1:]], fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("p(char | before)")
    ax.set_title("%s after %d steps" % (os.path.basename(ckpt), model.info.steps))
    fig.tight_layout()
    png = os.path.join(args.out_dir, "example.png")
    fig.savefig(png, dpi=100)
    print("plot:", png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
