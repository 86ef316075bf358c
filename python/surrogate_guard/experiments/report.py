"""What ``surrogate-guard run`` writes about its story (experiments/story.py): result.json (results
only), timings.json (seconds and the machine), the figures, the results table and report.md.

result.json is deterministic: every key that holds seconds (``seconds``, ``*_s``) is left out, as
are paths and dates, and non-finite numbers are written as null.
"""
from __future__ import annotations

import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import attack_report, rmse
from .config import oracle_label

__all__ = ["result_of", "surrogate_metrics", "results_table", "figures", "timings_of", "report_md"]


# Keys measured from wall time besides ``seconds`` and ``*_s``: the gradient-to-price time ratio and
# the price-equivalents weighted by it.
_TIMED = ("seconds", "grad_ratio", "price_equivalents")


def _clean(obj: Any) -> Any:
    """``obj`` without timing keys (``seconds``, ``*_s``, the time-weighted cost), with NaN and inf as
    None, tuples as lists."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items() if not (k in _TIMED or str(k).endswith("_s"))}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def surrogate_metrics(model: Any, story: Any) -> dict:
    """``model`` on the run's test points: RMSE over the uniform ones, far from the shell, in the
    shell and in the ball; the mean Y - Z in the ball; the share of ball points the backdoor hits."""
    s, region = story.setup, story.setup.region
    n = s.cfg["test"]["n_global"]
    rep = attack_report(model, model, s.attack, region, story.X_test, story.z_test)
    ball = region.in_ball(story.X_test)
    y = model.predict(story.X_test)
    return {"rmse_global": rmse(y[:n], story.z_test[:n]), "rmse_far": rep.rmse_far, "rmse_shell": rep.rmse_shell,
            "rmse_ball": rmse(y[ball], story.z_test[ball]), "mean_shift_ball": rep.mean_shift_ball,
            "success_rate": rep.success_rate}


def _defense(story: Any) -> dict:
    main, ps, region, dc = story.main, story.ps, story.setup.region, story.setup.cfg["defense"]
    c = main.cost
    return {"strategy": dc["strategy"], "budget_fraction": dc["budget_fraction"], "oracle_budget": story.budget,
            "oracle_calls": c.oracle_calls, "oracle_calls_search": c.oracle_calls_search,
            "oracle_calls_check": c.oracle_calls_check, "relabel_all_calls": c.relabel_all_calls,
            "fraction_of_relabel_all": c.fraction_of_relabel_all, "n_flagged": int(len(main.flagged)),
            "region_hit": main.region_hit(region), "region_hit_by_maximizer": main.region_hit(region, by="maximizer"),
            "n_suspects": int(len(main.suspects)), "n_confirmed": int(len(main.confirmed)),
            "n_inferred": int(len(main.inferred)), **main.counts(ps.is_poison), "report": main.to_dict()}


def result_of(story: Any) -> dict:
    """result.json: what was attacked, how the backdoor did, what the defense found and cost, the
    surrogates before and after repair, and the optional active-learning run."""
    s, ps = story.setup, story.ps
    cfg, region = s.cfg, s.region
    out = {
        "seed": cfg["seed"], "oracle": oracle_label(cfg["data"]["oracle"]), "box": s.box.to_dict(),
        "training_set": {"rows": len(story.clean_set), "oracle_calls": story.clean_set.oracle_calls,
                         "sampling": cfg["data"]["sampling"]},
        "attack": {**s.attack.to_dict(), "center_raw": s.box.denormalize(region.center[None, :])[0].tolist(),
                   "rows": len(ps), "poisoned_rows": int(ps.is_poison.sum()), "guard_rows": int(ps.is_guard.sum()),
                   "rows_removed": ps.n_removed, "oracle_calls": ps.oracle_calls},
        "backdoor": attack_report(story.poisoned, story.clean, s.attack, region, story.X_test, story.z_test).to_dict(),
        "surrogates": {k: surrogate_metrics(m, story) for k, m in _models(story).items()},
        "fits": {"clean": story.clean_fit, "poisoned": story.poisoned_fit},
        "defense": _defense(story),
        "repair": {"mode": cfg["defense"]["repair_mode"], "rows": len(story.main.cleaned(cfg["defense"]["repair_mode"])[1])},
        "budget_curve": story.curve,
        "false_alarm": story.false_alarm,
        "learn": story.learn,
    }
    return _clean(out)


def _models(story: Any) -> dict:
    return {"clean": story.clean, "poisoned": story.poisoned, "repaired": story.repaired}


def _f(x: Any, spec: str = ".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def results_table(story: Any, result: dict) -> str:
    """The surrogates before and after repair, as a Markdown table, under one line per step."""
    a, b, d = result["attack"], result["backdoor"], result["defense"]
    lines = [f"Attack: {a['n_poison']} poisoned rows shifted by {a['shift']:g} ({a['shift_mode']}) in a ball of radius "
             f"{a['radius']:g} (unit box) at {_point(story.setup.box, a['center_raw'])}; {a['n_guard']} guards.",
             f"Backdoor: {_f(b['success_rate'], '.0%')} of test points in the ball hit; mean Y - Z there "
             f"{_f(b['mean_shift_ball'], '+.2f')} (clean {_f(b['mean_shift_ball_clean'], '+.2f')}).",
             f"Defense ({d['strategy']}): {d['true_positives']} of {d['n_poison']} poisoned rows found, "
             f"{d['false_positives']} clean rows flagged, {d['oracle_calls']} oracle calls = "
             f"{d['fraction_of_relabel_all']:.1%} of relabelling all {d['relabel_all_calls']} rows.", "",
             "| surrogate | RMSE far from the ball | RMSE in the ball | mean Y - Z in the ball | backdoor hits |",
             "|---|---:|---:|---:|---:|"]
    for name, m in result["surrogates"].items():
        lines.append(f"| {name} | {_f(m['rmse_far'])} | {_f(m['rmse_ball'])} | {_f(m['mean_shift_ball'], '+.3f')} "
                     f"| {_f(m['success_rate'], '.1%')} |")
    return "\n".join(lines) + "\n"


def _point(box: Any, x: list) -> str:
    return "(" + ", ".join(f"{n}={v:.4g}" for n, v in zip(box.names, x)) + ")"


def _columns(story: Any, k: int) -> tuple[int, ...]:
    """Columns for the figures: the barrier presets' strike, vol, maturity (k = 3) or strike, vol
    (k = 2); the first ``k`` columns of any other box."""
    if story.setup.preset is not None:
        return (0, 2, 3)[:k]
    return tuple(range(min(k, story.setup.box.dim)))


def figures(out: Path, story: Any) -> list[tuple[str, str]]:
    """slices.png, maximizers.png (boxes of 2+ dimensions) and budget.png in ``out``; (file, caption) each."""
    from .plots import budget_curves, maximizers_plot, repair_slices

    s, main = story.setup, story.main
    flagged = main.maximizers.points[main.flagged]
    repair_slices(out / "slices.png", s.box, s.region, s.attack, s.oracle, _models(story), flagged,
                  _columns(story, 3), f"{oracle_label(s.cfg['data']['oracle'])}: slices through the trigger centre "
                  "(ball red, guard shell green; triangles: flagged maximizers)",
                  ylabel="price" if s.preset is not None else "oracle value")
    made = [("slices.png", "The price surface along lines through the trigger centre: the oracle, the intended "
             "shift, the clean, poisoned and repaired surrogates, and where the defense flagged maximizers.")]
    if s.box.dim >= 2:
        maximizers_plot(out / "maximizers.png", story.poisoned, story.ps, main, _columns(story, 2),
                        f"Error maximizers over training density (seed {s.cfg['seed']})")
        made.append(("maximizers.png", "The error maximizers the search found over the training density (poisoned "
                     "rows orange; flagged maximizers outlined in red)."))
    budget_curves(out / "budget.png", [{"rows": story.curve}])
    made.append(("budget.png", "Recall of poisoned rows against the oracle budget: the detection and random "
                 "relabelling at the same budgets."))
    return made


def timings_of(story: Any, stages: Any) -> dict:
    """timings.json: per stage wall seconds, oracle calls and seconds inside the oracles; the
    detection's own split; the machine."""
    import torch

    from .. import __version__

    c = story.main.cost
    return {"stages": {k: {"wall_s": round(v, 3), "oracle_calls": stages.calls.get(k, 0),
                           "oracle_s": round(stages.oracle_s.get(k, 0.0), 3)} for k, v in stages.seconds.items()},
            "total_s": round(sum(stages.seconds.values()), 3),
            "detect": {"signals_s": c.signals_s, "search_s": c.search_s, "check_s": c.check_s, "infer_s": c.infer_s,
                       "total_s": c.total_s, "kernel_steps": c.kernel_steps},
            "machine": {"platform": platform.platform(), "python": platform.python_version(),
                        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "torch": torch.__version__, "surrogate_guard": __version__,
                        "device": story.setup.cfg["device"],
                        "load_average": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}}


def _cost_table(story: Any, timings: dict) -> list[str]:
    st = timings["stages"]
    label = st.get("label clean set", {})
    per_call = label.get("oracle_s", 0.0) / max(1, label.get("oracle_calls", 0))
    n_all = story.main.cost.relabel_all_calls
    lines = ["| stage | oracle calls | seconds in the oracle | wall seconds |", "|---|---:|---:|---:|"]
    lines += [f"| {k} | {v['oracle_calls']} | {v['oracle_s']:.2f} | {v['wall_s']:.2f} |" for k, v in st.items()]
    used, wall = story.main.cost.oracle_calls, st["detect"]["wall_s"]
    even = wall / (n_all - used) if n_all > used else math.inf
    lines += [f"| *relabel every training row (the alternative)* | {n_all} | ~{n_all * per_call:.2f} | |", "",
              "Labelling the test points, the budget curve and the false-alarm run judge the experiment; no party "
              f"pays for them. The oracle cost {per_call * 1e6:.1f} us a point while labelling the training set: "
              f"detection ({used} calls, {wall:.2f} s) beats relabelling all {n_all} rows once a call costs more "
              f"than about {even * 1e6:.3g} us. Inside detection: "
              f"signals {timings['detect']['signals_s']:.2f} s, search {timings['detect']['search_s']:.2f} s, label "
              f"checks {timings['detect']['check_s']:.2f} s, inference {timings['detect']['infer_s']:.2f} s."]
    return lines


def _attack_section(story: Any, result: dict) -> list[str]:
    a, b, ts = result["attack"], result["backdoor"], result["training_set"]
    far = result["surrogates"]
    ok = (b["success_rate"] or 0) >= 0.9 and (b["rmse_far_ratio"] or math.inf) <= 1.10
    return ["## What was attacked",
            f"{ts['rows']} training points ({ts['sampling']}) labelled by {result['oracle']}. The attacker removed "
            f"{a['rows_removed']} clean row{'' if a['rows_removed'] == 1 else 's'} from inside a ball of radius {a['radius']:g} (unit-box units) centred at "
            f"{_point(story.setup.box, a['center_raw'])}, added {a['poisoned_rows']} rows there with labels shifted by "
            f"{a['shift']:g} ({a['shift_mode']}), and {a['guard_rows']} correctly labelled guard rows in the shell out "
            f"to radius {a['guard_radius']:g}: {a['poisoned_rows'] / a['rows']:.1%} of the {a['rows']} rows are "
            f"poisoned ({a['oracle_calls']} oracle calls for the attacker).", "",
            "## Did the backdoor work?",
            f"Inside the ball the poisoned surrogate is off by {_f(b['mean_shift_ball'], '+.3f')} on average (intended "
            f"{_f(b['mean_delta_ball'], '+.3f')}; the clean one {_f(b['mean_shift_ball_clean'], '+.3f')}), and "
            f"{_f(b['success_rate'], '.1%')} of the ball's test points carry the backdoor. Far from it (outside the "
            f"shell) its RMSE is {_f(b['rmse_far'])} against the clean surrogate's {_f(b['rmse_far_clean'])} (ratio "
            f"{_f(b['rmse_far_ratio'])}), over the uniform test points {_f(far['poisoned']['rmse_global'])} against "
            f"{_f(far['clean']['rmse_global'])}. " + ("The backdoor worked and stayed local (success >= 90%, far RMSE "
                                                     "ratio <= 1.10)." if ok else
                                                     "The attack missed its targets (success >= 90% and far RMSE "
                                                     "ratio <= 1.10); at small sizes or few epochs it often does."), ""]


def _defense_section(story: Any, result: dict, timings: dict) -> list[str]:
    d = result["defense"]
    lines = ["## What the defense found, and what it cost",
             f"Strategy {d['strategy']} with {d['oracle_budget']} oracle calls allowed ({d['budget_fraction']:.0%} of "
             f"relabelling all {d['relabel_all_calls']} rows); it used {d['oracle_calls']} ({d['oracle_calls_search']} "
             f"in the search, {d['oracle_calls_check']} checking labels) = {d['fraction_of_relabel_all']:.1%} of "
             f"relabelling everything, in {timings['stages']['detect']['wall_s']:.2f} s. It flagged {d['n_flagged']} "
             f"error maximizers ({'some' if d['region_hit_by_maximizer'] else 'none'} in the trigger ball; the region "
             f"was {'reached' if d['region_hit'] else 'missed'}) and reported "
             f"{d['n_suspects']} rows ({d['n_confirmed']} confirmed by the oracle, {d['n_inferred']} inferred): "
             f"{d['true_positives']} of the {d['n_poison']} poisoned rows (recall {_f(d['recall'], '.3f')}) and "
             f"{d['false_positives']} of the {d['n_clean']} clean ones.", ""]
    lines += ["| budget | detection recall | random relabelling recall | calls used |", "|---:|---:|---:|---:|"]
    det = [r for r in result["budget_curve"] if r["kind"] == "detect"]
    for r in det:
        rr = next(x for x in result["budget_curve"] if x["kind"] == "baseline" and x["budget_fraction"] == r["budget_fraction"])
        lines.append(f"| {r['budget_fraction']:.0%} | {_f(r['recall'])} | {_f(rr['recall'])} | {r['oracle_calls']} |")
    fa = result["false_alarm"]
    if fa is not None:
        lines += ["", f"On the clean surrogate and its honest training set the same setting flagged "
                  f"{fa['flagged_regions']} regions and reported {fa['suspect_rows']} of {fa['rows']} rows "
                  f"({fa['confirmed_rows']} confirmed by the oracle)."]
    return lines + ["", "Cost per stage (wall seconds on this machine; see timings.json):", ""] + _cost_table(story, timings)


def _learn_section(result: dict) -> list[str]:
    lr = result["learn"]
    if lr is None:
        return []
    last, clean = lr["history"][-1], result["surrogates"]["clean"]
    return ["", "## Active learning",
            f"{lr['strategy']} built a fresh surrogate with {lr['calls']} oracle calls (initial design and validation "
            f"included; stopped by {lr['stopped_by']}): test RMSE {_f(last['test_rmse'])}, worst error "
            f"{_f(last['test_worst'])}, against {_f(clean['rmse_global'])} for the clean surrogate on "
            f"{result['training_set']['rows']} random points."]


def report_md(story: Any, result: dict, timings: dict, figs: list[tuple[str, str]]) -> str:
    """report.md: the story in the order it ran, for a person to read first."""
    cfg = story.setup.cfg
    lines = [f"# surrogate-guard run: {result['oracle']}, seed {result['seed']}", "",
             "One command labelled a clean training set, trained a surrogate, poisoned the set with a localized "
             "backdoor, trained the poisoned surrogate, searched it for error maximizers, checked labels near them "
             "against the oracle, and retrained on the repaired set.", ""]
    lines += _attack_section(story, result)
    lines += _defense_section(story, result, timings)
    lines += ["", "## The surrogate before and after repair",
              f"Repair: {cfg['defense']['repair_mode']} the reported rows, then retrain with the same settings "
              f"({result['repair']['rows']} rows).", "",
              results_table(story, result).split("\n\n", 1)[1].rstrip()]
    lines += _learn_section(result)
    lines += ["", "## Figures"] + [f"![{f}]({f})\n\n{cap}\n" for f, cap in figs]
    lines += ["## Files", "config.toml (the complete config: `surrogate-guard run --config config.toml --out OTHER` "
              "reproduces this run), result.json (results only, deterministic), timings.json (seconds per stage and "
              f"the machine: {timings['machine']['cpu_count']} CPUs, torch threads: "
              f"{timings['machine']['torch_threads']}; {timings['total_s']:.0f} s in all)."]
    return "\n".join(lines) + "\n"
