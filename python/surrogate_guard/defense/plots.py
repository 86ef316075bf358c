"""Figures of the defense experiment (matplotlib, Agg): maximizers over training density, and
detection against oracle budget per strategy and baseline."""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def maximizers_over_density(path, model, ps, report, clean_set, cols=(0, 2)) -> None:
    """Training density (hexbin) in two normalized columns, poisoned rows, and the maximizers
    (size ~ |Y - Z|; flagged ones outlined in red)."""
    plt = _plt()
    lo, hi = model.bounds[:, 0], model.bounds[:, 1]
    U = (ps.X - lo) / (hi - lo)
    mx = report.maximizers
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    hb = ax.hexbin(U[:, cols[0]], U[:, cols[1]], gridsize=40, cmap="Greys", mincnt=1)
    fig.colorbar(hb, ax=ax, label="training points")
    ax.scatter(U[ps.is_poison, cols[0]], U[ps.is_poison, cols[1]], s=2, c="tab:orange", label="poisoned rows")
    if len(mx):
        size = 10 + 200 * np.sqrt(mx.error) / np.sqrt(mx.error).max()
        ax.scatter(mx.unit[:, cols[0]], mx.unit[:, cols[1]], s=size, facecolors="none", edgecolors="tab:blue",
                   label="error maximizers")
        f = report.flagged
        ax.scatter(mx.unit[f, cols[0]], mx.unit[f, cols[1]], s=size[f], facecolors="none", edgecolors="red",
                   linewidths=2, label="flagged")
    ax.set_xlabel(f"normalized column {cols[0]}")
    ax.set_ylabel(f"normalized column {cols[1]}")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("Error maximizers over training density (seed 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def budget_curves(path, results: list[dict]) -> None:
    """Mean recall of poisoned rows against oracle budget, one line per strategy / baseline."""
    plt = _plt()
    rows = [r for res in results for r in res["rows"] if r["budget_fraction"] > 0]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for meth in sorted({r["method"] for r in rows}):
        fr = sorted({r["budget_fraction"] for r in rows if r["method"] == meth})
        rec = [np.mean([r["recall"] for r in rows if r["method"] == meth and r["budget_fraction"] == f]) for f in fr]
        ax.plot(np.array(fr) * 100, rec, marker="o", ls="--" if meth == "random_relabel" else "-", label=meth)
    ax.set_xlabel("oracle budget (% of relabelling the whole training set)")
    ax.set_ylabel("recall of poisoned rows")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
