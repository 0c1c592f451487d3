#!/usr/bin/env python3
"""bench/mpi_model.py - the scaling model of docs/distributed.md.

Data-parallel training over N nodes, one rank per node, a ring allreduce of
the fp32 gradient every step:

    t_step(N)  = t_compute(b) + t_ar(N)
    t_compute  = b * T / r             b = B / N streams per rank, r = one
                                       rank's chars/s at this model (measured)
    t_ar(N)    = 2 (N-1)/N * bytes / bw + 2 (N-1) * alpha
    efficiency = t_compute / t_step    (1: communication costs nothing)

and the batch per rank at which the allreduce stays under 10 % of a step,
t_compute >= 9 t_ar:  b_10 = 9 * t_ar * r / T.

r is the 1-thread training speed of docs/benchmarks.md (a rank with more
threads has a larger r: its b_10 grows in proportion). It is taken as
constant in b; below the measured batch a rank is slower per character
(less parallel work per product), so the efficiencies at large N are upper
bounds. Prints markdown tables.
"""

# model: (params, B, T, 1-thread chars/s from docs/benchmarks.md)
CONFIGS = {
    "rnn H128 L1 B1 T25": (33345, 1, 25, 283860),
    "rnn H128 L2 B50 T50": (66369, 50, 50, 386041),
    "rnn H512 L2 B64 T100": (855105, 64, 100, 33671),
    "rnn H1024 L1 B128 T100": (1183809, 128, 100, 24861),
    "lstm H128 L1 B1 T25": (108225, 1, 25, 93147),
    "lstm H128 L2 B50 T50": (240321, 50, 50, 114427),
    "lstm H512 L2 B64 T100": (3320385, 64, 100, 8656),
    "lstm H1024 L1 B128 T100": (4535361, 128, 100, 5706),
    "gru H128 L1 B1 T25": (83265, 1, 25, 117446),
    "gru H128 L2 B50 T50": (182337, 50, 50, 136163),
    "gru H512 L2 B64 T100": (2498625, 64, 100, 10959),
    "gru H1024 L1 B128 T100": (3418177, 128, 100, 7752),
}
# network: (bytes/s, per-message latency alpha in s)
NETS = {"10 Gb/s": (10e9 / 8, 10e-6), "100 Gb/s": (100e9 / 8, 2e-6)}
NS = [2, 4, 8, 16, 32, 64]


def t_ar(nbytes, n, bw, alpha):
    return 2 * (n - 1) / n * nbytes / bw + 2 * (n - 1) * alpha


def main():
    print("| model | gradient | compute / step (1 rank, batch B) | " +
          " | ".join(f"allreduce N=64 at {k}" for k in NETS) + " |")
    print("|---|---|---|" + "---|" * len(NETS))
    for name, (p, B, T, r) in CONFIGS.items():
        tc = B * T / r
        cells = [f"{1e3 * t_ar(4 * p, 64, *NETS[k]):.2f} ms" for k in NETS]
        print(f"| {name} | {4 * p / 1e6:.2f} MB | {1e3 * tc:.1f} ms | " + " | ".join(cells) + " |")
    for k, (bw, alpha) in NETS.items():
        print(f"\n**{k}** (alpha {alpha * 1e6:.0f} us): efficiency with the global batch B split over N "
              "ranks (b = B/N; '-' where B/N < 1), and b_10, the batch per rank for communication "
              "under 10 % at N = 64\n")
        print("| model | " + " | ".join(f"N={n}" for n in NS) + " | b_10 at N=64 |")
        print("|---|" + "---|" * (len(NS) + 1))
        for name, (p, B, T, r) in CONFIGS.items():
            row = []
            for n in NS:
                b = B / n
                if b < 1:
                    row.append("-")
                    continue
                tc = b * T / r
                row.append(f"{tc / (tc + t_ar(4 * p, n, bw, alpha)):.2f}")
            b10 = 9 * t_ar(4 * p, 64, bw, alpha) * r / T
            print(f"| {name} | " + " | ".join(row) + f" | {b10:.1f} |")


if __name__ == "__main__":
    main()
