"""What bench/torch_charlm.py and bench/torch_train.py share: the character
model (one-hot input -> nn.RNN/LSTM/GRU -> nn.Linear, recur's language model
in PyTorch), detaching the carried state, and reading a text as character ids.

Not a script: the two scripts import it from their own directory, whatever
the working directory is.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class CharLM(nn.Module):
    """One-hot characters -> L layers of `cell` with H units -> a linear head
    to V logits; dropout between the layers (PyTorch's own; none with one
    layer)."""

    def __init__(self, cell, V, H, L, dropout=0.0):
        super().__init__()
        self.V = V
        self.rnn = CELLS[cell](V, H, L, dropout=dropout if L > 1 else 0.0)
        self.head = nn.Linear(H, V)

    def forward(self, ids, state):
        x = F.one_hot(ids, self.V).float()  # [T, B, V]
        out, state = self.rnn(x, state)
        return self.head(out), state


def detach(state):
    """The state (a tensor, or LSTM's (h, c)) cut from the graph."""
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def read_text(path):
    """The UTF-8 text at path as (vocabulary: its sorted distinct characters,
    ids: a LongTensor of each character's index in it)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    return vocab, torch.tensor([index[c] for c in text], dtype=torch.long)
