#!/usr/bin/python3
"""The PyTorch twin of `recur bench` (docs/benchmarks.md).

Same model (one-hot input -> nn.RNN/LSTM/GRU -> nn.Linear), same data layout
(B streams over the text, windows of T characters, the state carried between
windows and detached), same optimizer (Adam, lr 2e-3, gradient norm clipped
at 5), same measurements: training chars/s (B*T per step) for about --seconds
after a warm-up, batch-1 sampling chars/s (temperature 1), peak RSS of the
process, and the GFLOP/s of the recurrent and input products by the same
formula as recur (one-hot layer-0 input counted as 0 FLOPs, head excluded).

PyTorch's best setting on these machines is OPENBLAS_NUM_THREADS=1 and
OPENBLAS_CORETYPE=SkylakeX in the environment (bench/run.sh sets both);
torch.set_num_threads(--threads) sets the intra-op threads.

    /usr/bin/python3 bench/torch_charlm.py --cell lstm --hidden 128 --layers 2 \
        --batch 50 --seq 50 --threads 2 --seconds 5 --json

--loss-steps N prints the loss of each of the first N steps instead (no
timing), and --init FILE starts from given weights (bench/dnnl_charlm
--init-out writes oneDNN's): bench/loss_check.sh compares the curves.
"""
import argparse
import json
import os
import resource
import sys
import time

import torch
import torch.nn.functional as F

# The shared model and data code (bench/torch_common.py), found next to this
# file whatever the working directory (and under python3 -P / -I too).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import CharLM, detach, read_text  # noqa: E402


def model_flops(cell, H, L, embed):
    """Forward FLOPs per character of the recurrent and input products."""
    G = {"rnn": 1, "lstm": 4, "gru": 3}[cell]
    f = 0.0
    for l in range(L):
        width = H if l > 0 else embed
        f += 2.0 * G * H * (H + width)
    return f


def read_safetensors(path):
    """The float32 tensors of a safetensors file, by name (no package needed)."""
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name} is {t['dtype']}, not F32")
        a, b = t["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).view(t["shape"]).clone()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--batch", type=int, default=50)
    ap.add_argument("--seq", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--warmup", type=float, default=1)
    ap.add_argument("--sample-seconds", type=float, default=-1)
    ap.add_argument("--text", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--loss-steps", type=int, default=0,
                    help="train this many steps from the start, print each one's loss (JSON lines), and stop")
    ap.add_argument("--init", default=None,
                    help="start from these parameters (a safetensors file with the model's names, "
                         "e.g. from bench/dnnl_charlm --init-out)")
    a = ap.parse_args()
    if a.sample_seconds < 0:
        a.sample_seconds = max(1.0, a.seconds / 2)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    path = a.text or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data",
                                  "tinyshakespeare.txt")
    chars, data = read_text(path)
    V = len(chars)
    B, T, H, L = a.batch, a.seq, a.hidden, a.layers
    per_stream = len(data) // B
    streams = data[: per_stream * B].view(B, per_stream).t().contiguous()  # [per_stream, B]
    windows = (per_stream - 1) // T

    model = CharLM(a.cell, V, H, L)
    if a.init:
        model.load_state_dict(read_safetensors(a.init))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    state = None
    w = 0

    def step():
        nonlocal state, w
        if w >= windows:
            w, state = 0, None
        chunk = streams[w * T: w * T + T + 1]
        w += 1
        logits, st = model(chunk[:-1], state)
        state = detach(st)
        loss = F.cross_entropy(logits.view(-1, V), chunk[1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        return loss

    if a.loss_steps > 0:
        # The loss curve from the first step (bench/loss_check.sh); no timing.
        for s in range(1, a.loss_steps + 1):
            print(json.dumps({"step": s, "train_loss": round(step().item(), 6)}))
        return 0

    t0 = time.perf_counter()
    warm = 0
    while True:
        step()
        warm += 1
        if time.perf_counter() - t0 >= a.warmup:
            break
    steps = 0
    ts = time.perf_counter()
    cs = time.process_time()
    while True:
        step()
        steps += 1
        te = time.perf_counter()
        if te - ts >= a.seconds:
            break
    train_s = te - ts
    train_cpu = time.process_time() - cs
    train_rate = steps * B * T / train_s

    # Batch-1 sampling, temperature 1, no autograd.
    g = torch.Generator().manual_seed(a.seed)
    sampled = 0
    with torch.no_grad():
        st = None
        cur = torch.zeros(1, 1, dtype=torch.long)

        def draw(n):
            nonlocal st, cur
            for _ in range(n):
                logits, st = model(cur, st)
                p = torch.softmax(logits[0, 0], dim=0)
                cur = torch.multinomial(p, 1, generator=g).view(1, 1)

        draw(64)
        s0 = time.perf_counter()
        sc0 = time.process_time()
        while True:
            draw(64)
            sampled += 64
            s1 = time.perf_counter()
            if s1 - s0 >= a.sample_seconds:
                break
    sample_rate = sampled / (s1 - s0)
    sample_cpu = time.process_time() - sc0

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    gflops = train_rate * 3 * model_flops(a.cell, H, L, 0) * 1e-9
    params = sum(p.numel() for p in model.parameters())
    res = {
        "impl": "pytorch", "torch": torch.__version__, "cell": a.cell, "hidden": H, "layers": L,
        "embed": 0, "batch": B, "seq": T, "threads": a.threads, "vocab": V, "params": params,
        "train_steps": steps, "train_seconds": round(train_s, 3),
        "train_chars_per_s": round(train_rate, 1), "sample_chars": sampled,
        "sample_chars_per_s": round(sample_rate, 1), "peak_rss_mib": round(rss, 2),
        "gflops": round(gflops, 3), "train_cpu_seconds": round(train_cpu, 3),
        "sample_seconds": round(s1 - s0, 3), "sample_cpu_seconds": round(sample_cpu, 3),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
    }
    if a.json:
        print(json.dumps(res))
    else:
        print(f"torch bench: {a.cell} H{H} L{L} B{B} T{T}, {a.threads} thread(s), V={V}, {params} parameters")
        print(f"  train   {train_rate:12.0f} chars/s  ({steps} steps in {train_s:.2f} s after {warm} warm-up)")
        print(f"  sample  {sample_rate:12.0f} chars/s  (batch 1, {sampled} chars)")
        print(f"  peak RSS {rss:11.1f} MiB")
        print(f"  GEMM    {gflops:12.2f} GFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
