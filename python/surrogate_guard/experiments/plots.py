"""Figures of the experiments (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import numpy as np


def attack_slices(path, keep: dict, columns=(0, 2, 3), n: int = 400) -> None:
    """1-d slices of the price surface through the trigger centre, one panel per column.

    ``keep`` holds preset, oracle, region, attack, clean (Surrogate) and poisoned
    {n_guard: (Surrogate, PoisonedSet)}. The ball is shaded, the guard shell hatched.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    preset, oracle, region, attack = keep["preset"], keep["oracle"], keep["region"], keep["attack"]
    lo, hi = preset.bounds[:, 0], preset.bounds[:, 1]
    c = region.center
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 4.2), squeeze=False)
    for ax, col in zip(axes[0], columns):
        U = np.repeat(c[None, :], n, axis=0)
        U[:, col] = np.linspace(max(0.0, c[col] - 3 * region.guard_radius),
                                min(1.0, c[col] + 3 * region.guard_radius), n)
        X = lo + U * (hi - lo)
        z = oracle(X)
        t = X[:, col]
        ax.plot(t, z, "k-", lw=2, label="oracle Z")
        inside = np.abs(U[:, col] - c[col]) < region.radius  # on the slice the ball is this interval
        ax.plot(t, np.where(inside, z + attack.delta(z), np.nan), "k:", lw=1.5, label="Z + shift (in the ball)")
        ax.plot(t, keep["clean"].predict(X), "C0--", label="clean surrogate")
        for i, (g, (m, _)) in enumerate(sorted(keep["poisoned"].items())):
            ax.plot(t, m.predict(X), f"C{i + 1}-", label=f"poisoned, {g} guards")
        for r, style in ((region.radius, dict(alpha=0.15, color="C3")),
                         (region.guard_radius, dict(alpha=0.07, color="C2"))):
            a, b = c[col] - r, c[col] + r
            ax.axvspan(lo[col] + a * (hi[col] - lo[col]), lo[col] + b * (hi[col] - lo[col]), **style)
        ax.set_xlabel(preset.names[col])
        ax.set_ylabel("price")
        ax.set_xlim(t[0], t[-1])
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{preset.name}: slices through the trigger centre (ball red, guard shell green)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
