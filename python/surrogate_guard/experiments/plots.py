"""Figures of the experiments (matplotlib, Agg backend: no display needed): slices of the attacked
surface, error maximizers over the training density, detection against oracle budget.

Every coordinate change goes through the ``Box`` of the preset or surrogate.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .pipeline import SeedArtifacts

__all__ = ["attack_slices", "repair_slices", "maximizers_over_density", "maximizers_plot", "budget_curves",
           "learning_curves"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _along(center: np.ndarray, col: int, u: np.ndarray) -> np.ndarray:
    """Unit-box points (len(u), d): ``center`` with column ``col`` set to ``u``."""
    U = np.repeat(np.asarray(center, dtype=np.float64)[None, :], len(u), axis=0)
    U[:, col] = u
    return U


def _slice_panels(axes, box: Any, region: Any, attack: Any, oracle: Any, curves: list, columns, n: int,
                  marks: np.ndarray | None = None, ylabel: str = "price") -> None:
    """One panel per column: ``oracle``, the intended shift in the ball, every (label, model, style)
    of ``curves`` along the line through the trigger centre; ball red, guard shell green; ``marks``
    (k, d) raw points shown by their coordinate as triangles on top of each panel."""
    c = region.center
    for ax, col in zip(axes, columns):
        u = np.linspace(max(0.0, c[col] - 3 * region.guard_radius), min(1.0, c[col] + 3 * region.guard_radius), n)
        X = box.denormalize(_along(c, col, u))
        z = oracle(X)
        t = X[:, col]
        ax.plot(t, z, "k-", lw=2, label="oracle Z")
        inside = np.abs(u - c[col]) < region.radius  # on the slice the ball is this interval
        ax.plot(t, np.where(inside, z + attack.delta(z), np.nan), "k:", lw=1.5, label="Z + shift (in the ball)")
        for label, model, style in curves:
            ax.plot(t, model.predict(X), style, label=label)
        for r, shade in ((region.radius, dict(alpha=0.15, color="C3")),
                         (region.guard_radius, dict(alpha=0.07, color="C2"))):
            a, b = box.denormalize(_along(c, col, np.array([c[col] - r, c[col] + r])))[:, col]
            ax.axvspan(a, b, **shade)
        if marks is not None and len(marks):
            m = marks[(marks[:, col] >= t[0]) & (marks[:, col] <= t[-1]), col]
            ax.plot(m, np.full(len(m), 0.97), "v", color="tab:purple", ms=8, transform=ax.get_xaxis_transform(),
                    label="flagged maximizers (their coordinate)")
        ax.set_xlabel(box.names[col])
        ax.set_ylabel(ylabel)
        ax.set_xlim(t[0], t[-1])


def attack_slices(path, art: SeedArtifacts, oracle: Any, columns=(0, 2, 3), n: int = 400) -> None:
    """1-d slices of the price surface through the trigger centre, one panel per column: the
    ``oracle``, the intended shift in the ball, the clean and every poisoned surrogate of ``art``.
    The ball is shaded red, the guard shell green."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 4.2), squeeze=False)
    curves = [("clean surrogate", art.clean, "C0--")] + [
        (f"poisoned, {g} guards", m, f"C{i + 1}-") for i, (g, (m, _)) in enumerate(sorted(art.poisoned.items()))]
    _slice_panels(axes[0], art.preset.box, art.region, art.attack, oracle, curves, columns, n)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"{art.preset.name}: slices through the trigger centre (ball red, guard shell green)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def repair_slices(path, box: Any, region: Any, attack: Any, oracle: Any, models: dict, flagged: np.ndarray,
                  columns=(0, 2, 3), title: str = "", n: int = 400, ylabel: str = "price") -> None:
    """Like ``attack_slices`` for one run of the whole story: ``models`` {"clean", "poisoned",
    "repaired": surrogate} along slices through the trigger centre of ``region`` (a TriggerRegion of
    ``box``), and the defense's ``flagged`` maximizers (k, d) raw points, by their coordinate."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(columns), figsize=(5.2 * len(columns), 4.6), squeeze=False)
    styles = {"clean": ("clean surrogate", "C0--"), "poisoned": ("poisoned surrogate", "C3-"),
              "repaired": ("repaired surrogate", "C2-")}
    curves = [(styles.get(k, (k, "C4-"))[0], m, styles.get(k, (k, "C4-"))[1]) for k, m in models.items()]
    _slice_panels(axes[0], box, region, attack, oracle, curves, columns, n, np.asarray(flagged).reshape(-1, box.dim),
                  ylabel)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    fig.suptitle(title or "slices through the trigger centre (ball red, guard shell green)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))  # room for the legend under the panels
    fig.savefig(path, dpi=110)
    plt.close(fig)


def maximizers_over_density(path, art: SeedArtifacts, report: Any, n_guard: int | None = None,
                            cols=(0, 2)) -> None:
    """Training density (hexbin) of the poisoned set in two unit-box columns, its poisoned rows,
    and the ``report``'s maximizers (size ~ |Y - Z|; flagged ones outlined in red).

    ``n_guard``: which poisoned surrogate of ``art`` the report is about (default: the only one)."""
    if n_guard is None:
        if len(art.poisoned) != 1:
            raise ValueError(f"n_guard: expected one of {sorted(art.poisoned)} (art holds several)")
        n_guard = next(iter(art.poisoned))
    model, ps = art.poisoned[n_guard]
    maximizers_plot(path, model, ps, report, cols, f"Error maximizers over training density (seed {art.seed})")


def maximizers_plot(path, model: Any, ps: Any, report: Any, cols=(0, 2), title: str = "") -> None:
    """``maximizers_over_density`` for one surrogate ``model`` and its poisoned set ``ps``."""
    plt = _plt()
    U = model.box.normalize(ps.X)
    mx = report.maximizers
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    hb = ax.hexbin(U[:, cols[0]], U[:, cols[1]], gridsize=40, cmap="Greys", mincnt=1)
    fig.colorbar(hb, ax=ax, label="training points")
    ax.scatter(U[ps.is_poison, cols[0]], U[ps.is_poison, cols[1]], s=2, c="tab:orange", label="poisoned rows")
    if len(mx):
        root = np.sqrt(mx.error)
        size = 10 + 200 * root / max(float(root.max()), 1e-300)
        ax.scatter(mx.unit[:, cols[0]], mx.unit[:, cols[1]], s=size, facecolors="none", edgecolors="tab:blue",
                   label="error maximizers")
        f = report.flagged
        ax.scatter(mx.unit[f, cols[0]], mx.unit[f, cols[1]], s=size[f], facecolors="none", edgecolors="red",
                   linewidths=2, label="flagged")
    names = model.box.names
    ax.set_xlabel(f"{names[cols[0]]} (unit box)")
    ax.set_ylabel(f"{names[cols[1]]} (unit box)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title or "Error maximizers over training density")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def budget_curves(path, results: list[dict]) -> None:
    """Mean recall of poisoned rows against oracle budget, one line per strategy / baseline
    (``results``: the defend runner's per-seed results, each with its ``rows``)."""
    plt = _plt()
    rows = [r for res in results for r in res["rows"] if r["budget_fraction"] > 0 and r["recall"] is not None]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for meth in sorted({r["method"] for r in rows}):
        fr = sorted({r["budget_fraction"] for r in rows if r["method"] == meth})
        rec = [np.mean([r["recall"] for r in rows if r["method"] == meth and r["budget_fraction"] == f]) for f in fr]
        ax.plot(np.array(fr) * 100, rec, marker="o", ls="--" if meth == "random_relabel" else "-", label=meth)
    ax.set_xlabel("oracle budget (% of relabelling the whole training set)")
    ax.set_ylabel("recall of poisoned rows")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=8)
    else:  # no poisoned rows anywhere: recall is undefined
        ax.text(0.5, 0.5, "no poisoned rows: recall undefined", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def learning_curves(path, results: list[dict], cfg: dict) -> None:
    """Test RMSE and worst absolute error against oracle calls: one line per strategy (the mean over
    seeds, log scale), shaded between the seeds' min and max; single random designs as markers."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    curves = [r for r in results if r.get("single") is None]
    for i, name in enumerate(sorted({r["strategy"] for r in curves})):
        runs = [r["history"] for r in curves if r["strategy"] == name]
        calls = sorted(set.intersection(*[{h["calls"] for h in run} for run in runs]))
        for ax, key in zip(axes, ("test_rmse", "test_worst")):
            v = np.array([[next(h[key] for h in run if h["calls"] == c) for c in calls] for run in runs])
            ax.plot(calls, v.mean(axis=0), f"C{i}-", marker=".", label=f"{name} ({len(runs)} seeds)")
            if len(runs) > 1:
                ax.fill_between(calls, v.min(axis=0), v.max(axis=0), color=f"C{i}", alpha=0.15)
    singles = [r for r in results if r.get("single") is not None]
    for ax, key in zip(axes, ("test_rmse", "test_worst")):
        if singles:
            ax.plot([r["calls"] for r in singles], [r["history"][-1][key] for r in singles], "kx",
                    label="random, one design")
        ax.set_xlabel("oracle calls (initial design, validation and search included)")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("test RMSE")
    axes[1].set_ylabel("worst absolute test error")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{cfg['preset']} preset, {cfg['oracle'] if isinstance(cfg['oracle'], str) else cfg['oracle'].get('kind')}"
                 f" oracle: active learning, {cfg['test']['points']} test points")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
