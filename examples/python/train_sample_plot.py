#!/usr/bin/python3
"""train_sample_plot.py - recur from Python, end to end: train a small
character-level LSTM with a progress line per event, sample from it, and
plot a unit's activation over a text, with the probability the model gave
each character, to a PNG.

    PYTHONPATH=python python3 examples/python/train_sample_plot.py \
        [--text data/tinyshakespeare.txt] [--steps 300] [--out-dir out]

Model.trace gives every step's hidden state, cell state and gates as numpy
arrays; the plot shows the unit whose cell state moves most over a line of
the text (top), and the probability the model gave each character from the
ones before it (bottom). It needs matplotlib (python3-matplotlib); without
it the script says so and skips the plot.
"""

import argparse
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
    tr = model.trace(line)
    vocab = model.vocab
    # p(line[i] | line[:i]) for i >= 1: the distribution after step i-1.
    probs = [float(tr.probs[i - 1][vocab.index(line[i])]) for i in range(1, len(line))]
    print("--- mean probability of the right next character: %.3f" % (sum(probs) / len(probs)))
    c = tr.values["c"][0, 0]                  # [steps, hidden], layer 0
    unit = int(abs(c).std(axis=0).argmax())   # the cell that moves most
    print("--- unit %d's cell state moves most over the line (std %.3f)" % (unit, c[:, unit].std()))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (python3-matplotlib): no plot")
        return 0
    fig, (top, ax) = plt.subplots(2, 1, figsize=(12, 5), sharex=True)
    labels = [ch if ch != "\n" else "\\n" for ch in line]
    top.plot(range(len(line)), c[:, unit], color="tab:red", marker=".")
    top.axhline(0, color="gray", lw=0.5)
    top.set_ylabel("cell %d" % unit)
    top.set_title("%s after %d steps: layer 0, unit %d's cell state; p(char | before)"
                  % (os.path.basename(ckpt), model.info.steps, unit))
    ax.bar(range(1, len(line)), probs, color="tab:blue")
    ax.set_xticks(range(len(line)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("p(char | before)")
    fig.tight_layout()
    png = os.path.join(args.out_dir, "example.png")
    fig.savefig(png, dpi=100)
    print("plot:", png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
