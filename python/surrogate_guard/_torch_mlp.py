"""The torch half of ``Surrogate``: initial weights, the forward pass, the training loop and the
reference predict. Imported only by the paths that need torch (fit, the torch backend of predict,
an untrained surrogate's first weights), so loading a model file and predicting never import torch.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch


def activation(name: str) -> Callable[..., torch.Tensor]:
    """The torch function of an activation name (softplus: torch's, thresholded at z > 20)."""
    table: dict[str, Callable[..., torch.Tensor]] = {
        "silu": torch.nn.functional.silu, "tanh": torch.tanh, "relu": torch.relu,
        "softplus": torch.nn.functional.softplus}
    return table[name]


def init_params(d: int, widths: tuple[int, ...], seed: int) -> list[torch.Tensor]:
    """torch.nn.Linear's default (Kaiming-uniform, a=sqrt(5)) from a private generator: [W0, b0, W1, ...]."""
    gen = torch.Generator().manual_seed(seed)
    params: list[torch.Tensor] = []
    prev = d
    for out in (*widths, 1):
        bound = 1.0 / math.sqrt(prev)
        params.append((torch.rand((out, prev), generator=gen, dtype=torch.float32) * 2 - 1) * bound)
        params.append((torch.rand((out,), generator=gen, dtype=torch.float32) * 2 - 1) * bound)
        prev = out
    return params


def forward(act_name: str, params: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    """Scaled output (before y_scale/y_offset) of normalized inputs h: (n, d) -> (n,)."""
    act = activation(act_name)
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = torch.nn.functional.linear(h, params[2 * i], params[2 * i + 1])
        if i < n_layers - 1:
            h = act(h)
    return h[:, 0]


def predict(act_name: str, params: list[torch.Tensor], U: np.ndarray, chunk: int) -> np.ndarray:
    """forward() of unit-box points U (n, d) in the params' dtype, in near-equal chunks of <= ``chunk`` rows
    (none a lone row: torch's matrix-vector path rounds differently). Rows are independent."""
    n = U.shape[0]
    dtype = params[0].dtype
    out = np.empty(n, dtype=np.float64 if dtype == torch.float64 else np.float32)
    k = max(1, -(-n // chunk))  # k near-equal chunks [i n / k, (i + 1) n / k)
    with torch.no_grad():
        for a, b in ((i * n // k, (i + 1) * n // k) for i in range(k)):
            out[a:b] = forward(act_name, params, torch.from_numpy(U[a:b]).to(dtype)).numpy()
    return out


def train(forward_fn: Callable, start: list[torch.Tensor], train_set, val, gen: torch.Generator, dev: torch.device, *,
          epochs: int, lr: float, batch_size: int, patience: int, weight_decay: float) -> tuple[Any, int, int, float]:
    """Adam + one-cycle minibatch loop: (final params, epochs run, best epoch, best val MSE or nan).

    With a validation split the best weights are kept and training stops after ``patience``
    epochs without improvement; without one, the last weights. A non-finite training loss (checked
    every epoch, with or without a validation split), validation loss or final weight raises
    RuntimeError; the caller's weights and scaling are left untouched.
    """
    (Htr, Ttr), n_tr = train_set, train_set[0].shape[0]
    params = [p.detach().clone().to(dev).requires_grad_(True) for p in start]
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    steps = (n_tr + batch_size - 1) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps)
    best = (math.inf, 0, [p.detach().clone() for p in params])
    epoch = 0
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n_tr, generator=gen).to(dev)
        epoch_loss = torch.zeros((), device=dev)
        for s in range(steps):
            idx = order[s * batch_size:(s + 1) * batch_size]
            loss = torch.mean((forward_fn(params, Htr[idx]) - Ttr[idx]) ** 2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            epoch_loss += loss.detach()
        if not math.isfinite(t := float(epoch_loss)):  # one device sync per epoch
            raise RuntimeError(f"fit: the training loss became {t} at epoch {epoch} (diverged); lower lr "
                               f"(got {lr}) or check the labels' scale; the surrogate is left unchanged")
        if val is not None:
            with torch.no_grad():
                v = float(torch.mean((forward_fn(params, val[0]) - val[1]) ** 2))
            if not math.isfinite(v):
                raise RuntimeError(f"fit: validation loss became {v} at epoch {epoch}; lower lr (got {lr})")
            if v < best[0]:
                best = (v, epoch, [p.detach().clone() for p in params])
            elif epoch - best[1] >= patience:
                break
    final = best[2] if val is not None else [p.detach().clone() for p in params]
    bad = [i for i, p in enumerate(final) if not bool(torch.isfinite(p).all())]
    if bad:
        raise RuntimeError(f"fit: the weights became non-finite (parameter tensors {bad}); lower lr (got {lr})")
    if val is None:
        return final, epoch, epoch, math.nan
    return final, epoch, best[1], best[0]
