#!/usr/bin/python3
"""docs/benchmarks.md from bench/run.sh's runs.jsonl (printed to stdout).

Medians over the interleaved pairs; each recur/PyTorch (and recur/oneDNN)
ratio is taken within a pair (same minute, same machine load), and the table
shows the median of those ratios with their range. The oneDNN columns appear
when the runs include bench/dnnl_charlm's (impl "onednn"), and the bf16 table's recur bf16 / oneDNN bf16
column when they include dnnl_charlm --bf16's (impl "onednn_bf16"). bench/analysis.md, hand-written, is
appended as the discussion.
"""
import json
import os
import statistics
import sys

TARGET_TRAIN = {(128, 2, 50, 50): 3.0, (128, 1, 1, 25): 10.0, (512, 2, 64, 100): 2.0,
                (1024, 1, 128, 100): 2.0}


def target_dnnl(H, L, B, T):
    """recur / oneDNN fp32 training targets (issue #15): 2x at batch 1, 1.3x at
    H128 L2 B50 T50, 1.1x at every H >= 512."""
    if B == 1:
        return 2.0
    if (H, L, B, T) == (128, 2, 50, 50):
        return 1.3
    if H >= 512:
        return 1.1
    return None


def target_bf16(H, L, B, T):
    """bf16 training targets (issue #15): at H >= 512, >= 1.6x recur fp32 and
    >= 1.6x oneDNN fp32; at H128 L2 B50 T50, >= 3x PyTorch fp32. (against fp32,
    against oneDNN, against PyTorch); None where there is none."""
    if H >= 512:
        return 1.6, 1.6, None
    if (H, L, B, T) == (128, 2, 50, 50):
        return None, None, 3.0
    return None, None, None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def cpu_rate(r, key):
    """chars per CPU-second of the run times its threads: the rate had each
    thread had a core to itself (the machine is shared). None if unknown."""
    secs = {"train_chars_per_s": ("train_seconds", "train_cpu_seconds"),
            "sample_chars_per_s": ("sample_seconds", "sample_cpu_seconds"),
            "sample_bf16_chars_per_s": ("sample_bf16_seconds", "sample_bf16_cpu_seconds")}[key]
    wall, cpu = r.get(secs[0]), r.get(secs[1])
    if not wall or not cpu or r.get(key) is None:
        return None
    th = r["threads"]
    if key != "train_chars_per_s":
        # A sampler sharing its steps between threads uses one of them while
        # that is faster (busy machine), so its CPU time does not say what
        # its threads would do with the cores to themselves: no rate then.
        # (PyTorch's batch-1 sampling is counted as one thread.)
        th = r.get("sample_threads", 1)
        if th > 1:
            return None
    return r[key] * wall / cpu * th


def ceiling(streams, th, nbytes, cpu):
    """Characters per second that reading nbytes per character allows on th
    threads (bench/stream_peak): per CPU-second of the threads (x threads) or
    wall-clock; None if not measured."""
    if not nbytes or (th, int(nbytes)) not in streams:
        return None
    wall, per_cpu = streams[(th, int(nbytes))]
    if not cpu and th > 1 and wall < 0.8 * per_cpu:
        # The threads did not run together while it was measured (another
        # process held a core): the wall-clock rate is no ceiling.
        return None
    return per_cpu if cpu else wall


def fmt(x, d=0):
    if x is None:
        return "-"
    if d == 0:
        return f"{x:,.0f}"
    return f"{x:.{d}f}"


def pair_ratios(a, b, key):
    """a[p][key] / b[p][key] for every pair p both ran."""
    return [a[p][key] / b[p][key] for p in a if p in b and a[p].get(key) and b[p].get(key)]


def ratio_txt(ratios, tgt, d=2):
    """'median (min-max)' with a mark against the target, or '-'."""
    if not ratios:
        return "-"
    r = med(ratios)
    mark = "" if tgt is None else (" ✓" if r >= tgt else " ✗")
    return f"{r:.{d}f}x ({min(ratios):.{d}f}-{max(ratios):.{d}f}){mark}"


def train_gflops(runs, cpu):
    """Median GFLOP/s per CPU time when known (robust to the machine's load),
    else wall-clock; cpu: {pair: chars per CPU-second}."""
    fl = {p: r["gflops"] / r["train_chars_per_s"] for p, r in runs.items() if r["train_chars_per_s"]}
    return med([cpu[p] * fl[p] for p in cpu if cpu[p] and p in fl]) or med([r["gflops"] for r in runs.values()])


def peak_frac(g, peak, H):
    """% of the FMA peak: bare at H >= 512, in brackets below."""
    if not g or not peak:
        return "-"
    return f"{100 * g / peak:.0f} %" if H >= 512 else f"({100 * g / peak:.0f} %)"


def main():
    paths = sys.argv[1:]
    path = paths[-1]
    runs, peaks, machine, streams = [], {}, {}, {}
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                if r.get("kind") == "machine":
                    machine = r  # the last file's
                elif r.get("kind") == "peak":
                    peaks[r["threads"]] = r
                elif r.get("kind") == "stream":
                    # The ceiling is the best read rate seen at that size.
                    for x in r.get("read", []):
                        k = (r["threads"], int(x["bytes"]))
                        old = streams.get(k, (0, 0))
                        streams[k] = (max(old[0], x["passes_per_s"]), max(old[1], x["cpu_passes_per_s"]))
                else:
                    r["_file"] = p
                    runs.append(r)

    # A (threads, model) measured in several files: the newest file's runs only.
    newest = {}
    for r in runs:
        key = (r["threads"], r["cell"], r["hidden"], r["layers"], r["batch"], r["seq"])
        newest[key] = max(newest.get(key, -1), paths.index(r["_file"]))
    groups = {}
    for r in runs:
        key = (r["threads"], r["cell"], r["hidden"], r["layers"], r["batch"], r["seq"])
        if paths.index(r["_file"]) != newest[key]:
            continue
        impl = groups.setdefault(key, {}).setdefault(r.get("impl", "recur"), {})
        old = impl.get(r["pair"])
        # PyTorch's best setting: the faster of its runs in the pair.
        if old is None or r["train_chars_per_s"] > old["train_chars_per_s"]:
            impl[r["pair"]] = r

    dn = any("onednn" in g for g in groups.values())
    dn_runs = [r for r in runs if r.get("impl") == "onednn"]
    dnb_runs = [r for r in runs if r.get("impl") == "onednn_bf16"]

    out = []
    w = out.append
    w("# Benchmarks")
    w("")
    w("Generated by `bench/run.sh` (raw results: " + ", ".join("`" + os.path.relpath(p) + "`" for p in paths) + "); the discussion at the")
    w("end is `bench/analysis.md`. Reproduce with:")
    w("")
    w("```")
    w("apt-get install build-essential cmake python3-torch libopenblas-dev" + (" libdnnl-dev" if dn else "")
      + "   # Debian 12")
    w("bench/run.sh                      # PAIRS=3 SECONDS_PER_RUN=5 THREADS=\"1 2\" by default")
    w("build/recur bench --cell lstm --hidden 512 --layers 2 --batch 64 --seq 100 --threads 2 --json")
    w("OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 bench/torch_charlm.py \\")
    w("    --cell lstm --hidden 512 --layers 2 --batch 64 --seq 100 --threads 2 --json")
    if dn:
        w("OMP_NUM_THREADS=2 build/dnnl_charlm --cell lstm --hidden 512 --layers 2 --batch 64 --seq 100 --threads 2 --json")
        w("bench/loss_check.sh               # the three train the same model: loss after N steps")
    w("```")
    w("")
    w("## What is measured")
    w("")
    w("- **Training chars/s**: B*T characters per optimizer step (forward, softmax cross-entropy,")
    w("  backward through time, global-norm clip at 5, Adam lr 2e-3), on `data/tinyshakespeare.txt`,")
    w("  B streams over the text with the state carried between windows, one-hot input, a linear")
    w("  head. Timed for about `SECONDS_PER_RUN` seconds after a one-second warm-up.")
    w("- **Sampling chars/s**: batch 1, temperature 1, one character at a time from the trained model.")
    w("- **Peak RSS**: the process's maximum resident set (`getrusage`), whole process (PyTorch's")
    w("  includes the Python interpreter and the torch library).")
    w("- **GFLOP/s** (the FLOP formula): per trained character, the recurrent and input products")
    w("  count 3 x 2*G*H*(H + in) per layer (forward, gradient of the input, gradient of the")
    w("  weights), with G the gate blocks (1 rnn, 4 lstm, 3 gru), in = H above layer 0 and")
    w("  in = 0 for the one-hot layer 0 (a column gather, not a product). The head and the")
    w("  pointwise work are not counted, so this is a lower bound of the arithmetic done.")
    w("  " + ("All three implementations" if dn else "Both implementations") + " are scored with the same formula.")
    w("- **Ratios** are recur / PyTorch within each interleaved pair (recur, then PyTorch, a few")
    w("  seconds apart); the table gives their median and range over the pairs.")
    w("- PyTorch runs at its best setting: `OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=SkylakeX`,")
    w("  `torch.set_num_threads(N)`; with 2 threads it runs twice per pair, with libgomp's default")
    w("  (spinning) wait policy and with `OMP_WAIT_POLICY=PASSIVE`, and the faster counts (on this")
    w("  shared machine the default collapses to a few thousand chars/s whenever another process")
    w("  holds a core). recur takes no environment variable.")
    if dn:
        w("- **oneDNN** (`bench/dnnl_charlm.c`, Debian's libdnnl 2.6): the same model and step on oneDNN's")
        w("  RNN primitives (vanilla RNN, LSTM, and lbr_gru, which is PyTorch's GRU): forward_training and")
        w("  backward primitives created once per group of layers (layer 0 with its one-hot input; layers")
        w("  1..L-1 stacked in one), workspace reused, the state carried between windows; the head an")
        w("  inner_product primitive, the softmax a logsoftmax primitive; cross-entropy gradient, clip and")
        w("  Adam as plain loops. Weights stay in the layout the forward primitive chose; the backward's")
        w("  transposed weights are a reorder primitive per step. It runs on OpenMP (`OMP_NUM_THREADS=N`),")
        w("  with 2 threads once per wait policy like PyTorch, the faster counting. `bench/loss_check.sh`")
        w("  shows its loss equal to PyTorch's from the same initial weights. Ratios recur / oneDNN are")
        w("  per pair, as for PyTorch; the targets are issue #15's (2x at batch 1, 1.3x at H128 L2 B50")
        w("  T50, 1.1x at H >= 512).")
    w("")
    w("## Machine")
    w("")
    if machine:
        w(f"- CPU: {machine.get('cpu')} ({machine.get('cores')} cores), kernel {machine.get('kernel')}")
        w(f"- Compiler: {machine.get('cc')}; PyTorch {machine.get('torch')}"
          + (f"; oneDNN {machine.get('onednn')}" if machine.get("onednn") not in (None, "none") else "")
          + f"; {machine.get('recur')} at {machine.get('git')}")
        w(f"- Run: {machine.get('date')}, {machine.get('pairs')} pairs of {machine.get('seconds')} s runs, "
          f"load average at the start {machine.get('loadavg')} (the machine is shared)")
    if dn_runs:
        def seen(key):
            return ", ".join(f"`{v}`" for v in sorted({str(r.get(key)) for r in dn_runs if r.get(key)})) or "-"
        w(f"- oneDNN's choices (its `impl_info_str`, as `ONEDNN_VERBOSE=1` prints them): ISA {seen('onednn_isa')};")
        w(f"  RNN forward_training {seen('onednn_impl')}, backward {seen('onednn_impl_bwd')}; head inner product")
        w(f"  {seen('onednn_impl_head')} (backward {seen('onednn_impl_head_bwd')}); logsoftmax")
        w(f"  {seen('onednn_impl_logsoftmax')}; batch-1 sampling (forward_inference) {seen('onednn_impl_sample')}")
    if dnb_runs:
        def seen_b(key):
            return ", ".join(f"`{v}`" for v in sorted({str(r.get(key)) for r in dnb_runs if r.get(key)})) or "-"
        w(f"- oneDNN bf16 training (`dnnl_charlm --bf16`): RNN forward_training {seen_b('onednn_impl')}, backward")
        w(f"  {seen_b('onednn_impl_bwd')}; head inner product {seen_b('onednn_impl_head')} (backward")
        w(f"  {seen_b('onednn_impl_head_bwd')})")
    w("")
    w("## Ceilings")
    w("")
    if peaks:
        w("| threads | AVX-512 FMA peak | AVX512-BF16 peak (vdpbf16ps) | OpenBLAS sgemm 2048^3 | sgemm at the model's shapes (min - max) |")
        w("|---|---|---|---|---|")
        for th in sorted(peaks):
            p = peaks[th]
            g = [s["gflops"] for s in p.get("sgemm", [])]
            rng = f"{min(g):.0f} - {max(g):.0f}" if g else "-"
            gc = [s["cpu_gflops"] for s in p.get("sgemm", []) if "cpu_gflops" in s]
            rngc = f"{min(gc):.0f} - {max(gc):.0f}" if gc else "-"
            bf = (f"{p['bf16_peak_gflops']:.0f} ({p.get('bf16_peak_cpu_gflops', float('nan')):.0f}) GFLOP/s"
                  if p.get("bf16_peak_gflops") else "-")
            w(f"| {th} | {p['fma_peak_gflops']:.0f} ({p.get('fma_peak_cpu_gflops', float('nan')):.0f}) GFLOP/s "
              f"| {bf} "
              f"| {p['square2048_gflops']:.0f} ({p.get('square2048_cpu_gflops', float('nan')):.0f}) GFLOP/s "
              f"| {rng} ({rngc}) GFLOP/s |")
        w("")
        w("Wall-clock rates, and in brackets per CPU time of the measuring threads (x threads): on this")
        w("shared machine the bracketed numbers are what the cores do while they are ours, and the")
        w("ones the percentages below use. The FMA peak is 16-lane fused multiply-adds on registers")
        w("(2 FLOPs each) on every thread; the bf16 peak the same with AVX512-BF16's vdpbf16ps (two")
        w("bf16 products added into each of 16 fp32 lanes: 64 FLOPs per instruction), the ceiling of")
        w("`--bf16` training; `bench/sgemm_peak --json` lists OpenBLAS (SkylakeX kernels) at every")
        w("product the models use.")
        w("")

    for th in sorted({k[0] for k in groups}):
        pk = peaks.get(th, {})
        peak = pk.get("fma_peak_cpu_gflops") or pk.get("fma_peak_gflops")
        w(f"## {th} thread{'s' if th > 1 else ''}")
        w("")
        head = ("| model | recur train chars/s | PyTorch | ratio (range) | target |"
                + (" oneDNN | recur/oneDNN (range) | target |" if dn else "")
                + " per CPU-s: recur | PyTorch | ratio |" + (" oneDNN | ratio |" if dn else "")
                + " recur GFLOP/s | % FMA peak | PyTorch GFLOP/s |" + (" oneDNN GFLOP/s | % FMA peak |" if dn else ""))
        w(head)
        w("|" + "---|" * (head.count("|") - 1))
        rows_s, rows_m, rows_b = [], [], []
        bpeak = pk.get("bf16_peak_cpu_gflops") or pk.get("bf16_peak_gflops")
        for key in sorted(k for k in groups if k[0] == th):
            _, cell, H, L, B, T = key
            g = groups[key]
            rc, tc, dc = g.get("recur", {}), g.get("pytorch", {}), g.get("onednn", {})
            name = f"{cell} H{H} L{L} B{B} T{T}"
            rt = med([r["train_chars_per_s"] for r in rc.values()])
            tt = med([r["train_chars_per_s"] for r in tc.values()])
            dt = med([r["train_chars_per_s"] for r in dc.values()])
            rcpu = {p: cpu_rate(r, "train_chars_per_s") for p, r in rc.items()}
            tcpu = {p: cpu_rate(r, "train_chars_per_s") for p, r in tc.items()}
            dcpu = {p: cpu_rate(r, "train_chars_per_s") for p, r in dc.items()}
            cr = med(list(rcpu.values())), med(list(tcpu.values())), med(list(dcpu.values()))
            cratio = med([rcpu[p] / tcpu[p] for p in rcpu if p in tcpu and rcpu[p] and tcpu[p]])
            dcratio = med([rcpu[p] / dcpu[p] for p in rcpu if p in dcpu and rcpu[p] and dcpu[p]])
            # GFLOP/s per CPU time when known (robust to the machine's load), else wall.
            rg, tg, dg = train_gflops(rc, rcpu), train_gflops(tc, tcpu), train_gflops(dc, dcpu)
            tgt = TARGET_TRAIN.get((H, L, B, T))
            dtgt = target_dnnl(H, L, B, T)
            rtxt = ratio_txt(pair_ratios(rc, tc, "train_chars_per_s"), tgt)
            dtxt = ratio_txt(pair_ratios(rc, dc, "train_chars_per_s"), dtgt)
            pct = lambda x: "-" if x is None else "%.2fx" % x
            row = f"| {name} | {fmt(rt)} | {fmt(tt)} | {rtxt} | {'>= %gx' % tgt if tgt else '-'} |"
            if dn:
                row += f" {fmt(dt)} | {dtxt} | {'>= %gx' % dtgt if dtgt else '-'} |"
            row += f" {fmt(cr[0])} | {fmt(cr[1])} | {pct(cratio)} |"
            if dn:
                row += f" {fmt(cr[2])} | {pct(dcratio)} |"
            row += f" {fmt(rg, 1)} | {peak_frac(rg, peak, H)} | {fmt(tg, 1)} |"
            if dn:
                row += f" {fmt(dg, 1)} | {peak_frac(dg, peak, H)} |"
            w(row)
            rs = med([r["sample_chars_per_s"] for r in rc.values()])
            ts = med([r["sample_chars_per_s"] for r in tc.values()])
            sr = [rc[p]["sample_chars_per_s"] / tc[p]["sample_chars_per_s"] for p in rc if p in tc]
            rsc = {p: cpu_rate(r, "sample_chars_per_s") for p, r in rc.items()}
            tsc = {p: cpu_rate(r, "sample_chars_per_s") for p, r in tc.items()}
            src = [rsc[p] / tsc[p] for p in rsc if p in tsc and rsc[p] and tsc[p]]
            # bf16 sampling (opt-in), and both against the read-bandwidth ceiling.
            rb = med([r.get("sample_bf16_chars_per_s") for r in rc.values()])
            br = [rc[p]["sample_bf16_chars_per_s"] / tc[p]["sample_chars_per_s"] for p in rc
                  if p in tc and rc[p].get("sample_bf16_chars_per_s") and tc[p]["sample_chars_per_s"]]
            rbc = {p: cpu_rate(r, "sample_bf16_chars_per_s") for p, r in rc.items()}
            sth = med([r.get("sample_threads", 1) for r in rc.values()])
            mb = med([r.get("sample_bytes_per_char") for r in rc.values()])
            mb16 = med([r.get("sample_bf16_bytes_per_char") for r in rc.values()])
            # Per CPU-second on one thread; wall-clock on several (cpu_rate).
            percpu = sth == 1
            lim = ceiling(streams, sth, mb, percpu)
            lim16 = ceiling(streams, sth, mb16, percpu)
            got = rsc if percpu else {p: r["sample_chars_per_s"] for p, r in rc.items()}
            got16 = rbc if percpu else {p: r.get("sample_bf16_chars_per_s") for p, r in rc.items()}
            frac = [got[p] / lim for p in got if got[p] and lim]
            frac16 = [got16[p] / lim16 for p in got16 if got16[p] and lim16]
            ds = med([r["sample_chars_per_s"] for r in dc.values()])
            dsr = pair_ratios(rc, dc, "sample_chars_per_s")
            # int8 sampling (opt-in), against bf16 in the same run (#15: >= 1.7x at H >= 512).
            ri = med([r.get("sample_int8_chars_per_s") for r in rc.values()])
            ib = [r["sample_int8_chars_per_s"] / r["sample_bf16_chars_per_s"] for r in rc.values()
                  if r.get("sample_int8_chars_per_s") and r.get("sample_bf16_chars_per_s")]
            rows_s.append((name, rs, ts, sr, med(list(rsc.values())), med(src), rb, br, ds, dsr, sth, mb, lim,
                           med(frac), mb16, lim16, med(frac16), ri, ib, H))
            rm = med([r["peak_rss_mib"] for r in rc.values()])
            tm = med([r["peak_rss_mib"] for r in tc.values()])
            dm = med([r["peak_rss_mib"] for r in dc.values()])
            rows_m.append((name, rm, tm, dm))
            bc = g.get("recur_bf16", {})
            if bc:
                bcpu = {p: cpu_rate(r, "train_chars_per_s") for p, r in bc.items()}
                ran = all(r.get("bf16") for r in bc.values())
                rows_b.append((name, H, L, B, T, med([r["train_chars_per_s"] for r in bc.values()]), ran,
                               pair_ratios(bc, rc, "train_chars_per_s"), pair_ratios(bc, dc, "train_chars_per_s"),
                               pair_ratios(bc, g.get("onednn_bf16", {}), "train_chars_per_s"),
                               pair_ratios(bc, tc, "train_chars_per_s"), train_gflops(bc, bcpu),
                               med([r["peak_rss_mib"] for r in bc.values()]), rm, tm))
        w("")
        w("Train chars/s are wall-clock medians and the ratio is the median of the per-pair ratios")
        w("(the issue's measure). \"Per CPU-s\" divides by the CPU time the process got instead of")
        w("the wall time (times the threads): the rate with the cores to itself. GFLOP/s (formula")
        w("above) are per CPU time, and % is of the AVX-512 FMA peak per CPU time for this thread")
        w("count (target >= 65 % at H >= 512; in brackets below that).")
        w("")
        w("| model | recur sample chars/s | PyTorch | ratio (range) | target | recur per CPU-s | ratio per CPU-s "
          "| bf16 chars/s | bf16 ratio | int8 chars/s | int8 / bf16 |" + (" oneDNN | recur/oneDNN (range) |" if dn else ""))
        w("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if dn else ""))
        for name, rs, ts, sr, rsc, src, rb, br, ds, dsr, *rest in rows_s:
            ri, ib, Hs = rest[-3:]
            ibr = med(ib)
            itxt = "-" if ibr is None else f"{ibr:.2f}x" + ((" ✓" if ibr >= 1.7 else " ✗") if Hs >= 512 else "")
            srr = med(sr)
            mark = "" if srr is None else (" ✓" if srr >= 10 else " ✗")
            txt = "-" if srr is None else f"{srr:.1f}x ({min(sr):.1f}-{max(sr):.1f}){mark}"
            brr = med(br)
            btxt = "-" if brr is None else f"{brr:.1f}x{' ✓' if brr >= 10 else ''}"
            w(f"| {name} | {fmt(rs)} | {fmt(ts)} | {txt} | >= 10x | {fmt(rsc)} | {'-' if src is None else '%.1fx' % src} "
              f"| {fmt(rb)} | {btxt} | {fmt(ri)} | {itxt} |" + (f" {fmt(ds)} | {ratio_txt(dsr, None, 1)} |" if dn else ""))
        w("")
        w(f"Sampling is batch 1, temperature 1; PyTorch with `torch.set_num_threads({th})`, recur's sampler")
        w(f"with `--threads {th}` (one thread when the weights are under 1 MiB, and while sharing is slower;")
        w("the characters drawn do not depend on it). bf16 is `recur sample --bf16` (opt-in: weights")
        w("rounded to bfloat16; the ratio is against PyTorch's fp32); int8 is `recur sample --int8` (weights")
        w("int8 per output row, AVX512-VNNI; its ratio is against recur's bf16 in the same run, target")
        w(">= 1.7x at H >= 512). \"Per CPU-s\" is not given for a")
        w("sampler on several threads (it runs on one while that is faster, so its CPU time says little).")
        if dn:
            w("oneDNN samples with forward_inference RNN and inner_product primitives for one character")
            w("(created once, the trained weights reordered once into the layout they choose) and a softmax")
            w(f"primitive, on `OMP_NUM_THREADS={th}`.")
        w("")
        w("The ceiling: a sampled character reads every weight once, so it can go no faster than the")
        w("read bandwidth at that working set (`bench/stream_peak` on the sampler's threads, the best")
        w("of 100 short batches) divided by the weight bytes per character. On one thread both sides")
        w("are per CPU-second, on several wall-clock; recur's rate is a whole run's, the ceiling a best")
        w("batch, so on a busy machine the percentage understates how close the step itself comes.")
        w("A ceiling on several threads is left out (-) when its wall-clock rate was under 80 % of its")
        w("CPU-time rate: another process held a core while it was measured, so it bounds nothing.")
        w("")
        w("| model | threads | MB/char fp32 | ceiling chars/s | recur % of it | MB/char bf16 | bf16 ceiling | bf16 % of it |")
        w("|---|---|---|---|---|---|---|---|")
        for row in rows_s:
            name, (sth, mb, lim, fr, mb16, lim16, fr16) = row[0], row[10:17]
            pct = lambda f: "-" if f is None else f"{100 * f:.0f} %"
            w(f"| {name} | {fmt(sth)} | {'-' if not mb else '%.2f' % (mb / 1e6)} | {fmt(lim)} | {pct(fr)} "
              f"| {'-' if not mb16 else '%.2f' % (mb16 / 1e6)} | {fmt(lim16)} | {pct(fr16)} |")
        w("")
        w("| model | recur peak RSS MiB | PyTorch | recur / PyTorch | target |"
          + (" oneDNN | recur / oneDNN |" if dn else ""))
        w("|---|---|---|---|---|" + ("---|---|" if dn else ""))
        for name, rm, tm, dm in rows_m:
            ratio = f"{100 * rm / tm:.1f} %" if rm and tm else "-"
            mark = "" if not (rm and tm) else (" ✓" if rm / tm <= 0.25 else " ✗")
            dratio = f"{100 * rm / dm:.1f} %" if rm and dm else "-"
            w(f"| {name} | {fmt(rm, 1)} | {fmt(tm, 1)} | {ratio}{mark} | <= 25 % |"
              + (f" {fmt(dm, 1)} | {dratio} |" if dn else ""))
        if dn:
            w("")
            w("Peak RSS is the whole process's: oneDNN's includes libdnnl and its JIT-generated kernels, no")
            w("interpreter.")
        w("")
        if rows_b:
            w("bf16 mixed-precision training (`recur bench --bf16`, as `recur train --bf16`): every matrix")
            w("product on bfloat16 inputs with fp32 sums (AVX512-BF16), the rest fp32. Ratios are per pair")
            w("against recur fp32, oneDNN fp32, oneDNN's own bf16 training and PyTorch fp32 in the same round;")
            w("GFLOP/s per CPU time by the same formula, and % of the bf16 (vdpbf16ps) peak per CPU time.")
            w("oneDNN bf16 is `dnnl_charlm --bf16`: its RNN primitives on bf16 data, states and weights (bias,")
            w("LSTM cell state and every gradient f32) and a bf16 head inner product, the f32 master weights")
            w("reordered to bf16 each step, clip and Adam in f32 (2 threads: `OMP_WAIT_POLICY=PASSIVE` only);")
            w("the target is to be ahead of it (\"-\" where oneDNN refuses bf16 on this CPU).")
            w("")
            w("| model | bf16 train chars/s | / recur fp32 (range) | target | / oneDNN fp32 (range) | target "
              "| / oneDNN bf16 (range) | / PyTorch fp32 (range) | target | bf16 GFLOP/s | % bf16 peak "
              "| peak RSS MiB (fp32: recur, PyTorch) |")
            w("|---|---|---|---|---|---|---|---|---|---|---|---|")
            for name, H, L, B, T, bt, ran, vf, vd, vdb, vt, bg, bm, rm, tm in rows_b:
                t1, t2, t3 = target_bf16(H, L, B, T)
                pf = "-" if not (bg and bpeak) else f"{100 * bg / bpeak:.0f} %"
                w(f"| {name}{'' if ran else ' (ran in fp32: no AVX512-BF16)'} | {fmt(bt)} | {ratio_txt(vf, t1)} "
                  f"| {'>= %gx' % t1 if t1 else '-'} | {ratio_txt(vd, t2) if dn else '-'} | {'>= %gx' % t2 if t2 else '-'} "
                  f"| {ratio_txt(vdb, 1.0)} "
                  f"| {ratio_txt(vt, t3)} | {'>= %gx' % t3 if t3 else '-'} | {fmt(bg, 1)} | {pf} "
                  f"| {fmt(bm, 1)} ({fmt(rm, 1)}, {fmt(tm, 1)}) |")
            w("")

    here = os.path.dirname(os.path.abspath(__file__))
    notes = os.path.join(here, "analysis.md")
    if os.path.exists(notes):
        with open(notes) as f:
            w(f.read().rstrip())
            w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
