#!/usr/bin/python3
"""make_optim_fixture.py - writes tests/fixtures/adamw.safetensors: what
PyTorch's torch.optim.AdamW does to a weight matrix (weight decay on) and a
bias (weight decay off, as recur leaves biases alone) over three steps of
given gradients. tests/test_engine.c feeds the same gradients to recur's
trainer (adam with --weight-decay) and compares every weight after every step.

    /usr/bin/python3 tools/make_optim_fixture.py      (Debian's python3-torch)
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from recur.safetensors import write  # noqa: E402

LR, WD, STEPS = 0.01, 0.1, 3
g = torch.Generator().manual_seed(7)
w0 = torch.randn(2, 8, generator=g)
b0 = torch.randn(8, generator=g)
grads = torch.randn(STEPS, 24, generator=g)
w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
opt = torch.optim.AdamW([{"params": [w], "weight_decay": WD}, {"params": [b], "weight_decay": 0.0}],
                        lr=LR, betas=(0.9, 0.999), eps=1e-8)
after = []
for k in range(STEPS):
    opt.zero_grad()
    w.grad = grads[k, :16].reshape(2, 8).clone()
    b.grad = grads[k, 16:].clone()
    opt.step()
    after.append(torch.cat([w.detach().reshape(-1), b.detach()]))
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "adamw.safetensors")
write(out, {"w0": torch.cat([w0.reshape(-1), b0]).numpy().astype(np.float32),
            "grads": grads.numpy().astype(np.float32),
            "after": torch.stack(after).numpy().astype(np.float32)},
      {"lr": repr(LR), "weight_decay": repr(WD), "torch": torch.__version__,
       "layout": "16 floats of a [2, 8] matrix (decayed), then 8 of a bias (not)"})
print("wrote", out)
