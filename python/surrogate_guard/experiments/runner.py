"""Seeds run one after another or in worker processes: ``per_seed``, and the thread pin each uses.

Workers are spawned (not forked: torch and OpenMP state do not survive a fork), so ``fn`` must be
a module-level function (or a ``functools.partial`` of one) and what it returns must pickle:
models, data sets and reports do; live oracles do not (they hold a lock), so results carry the
config and rebuild an oracle with ``config.make_oracle`` when they need one.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Iterator, TypeVar

__all__ = ["setup_threads", "check_seeds", "config_from_args", "per_seed", "per_item", "standalone"]

T = TypeVar("T")


def setup_threads(n: int) -> None:
    """Pin torch's intra-op threads to ``n`` (>= 1): training is then reproducible per thread count,
    and several seed processes share the cores without oversubscribing them."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def check_seeds(seeds: Any) -> list[int]:
    """The config's ``seeds``: a non-empty list of distinct non-negative ints."""
    ok = (isinstance(seeds, list) and seeds and len(set(seeds)) == len(seeds)
          and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds))
    if not ok:
        raise ValueError(f"config.seeds: expected a non-empty list of distinct non-negative ints, got {seeds!r}")
    return [int(s) for s in seeds]


def config_from_args(args: argparse.Namespace, defaults: dict) -> dict:
    """The runner's config: ``--config`` over ``defaults``, ``--seeds N`` as seeds 0..N-1, seeds checked."""
    from .config import load_config

    cfg = load_config(args.config, defaults)
    if args.seeds is not None:
        if args.seeds < 1:
            raise ValueError(f"--seeds: expected a count >= 1, got {args.seeds}")
        cfg["seeds"] = list(range(args.seeds))
    check_seeds(cfg["seeds"])
    return cfg


def _in_worker(fn: Callable[[dict, Any], T], cfg: dict, seed: Any) -> T:
    setup_threads(cfg["threads"])
    return fn(cfg, seed)


def per_seed(fn: Callable[[dict, int], T], cfg: dict, jobs: int = 1) -> Iterator[T]:
    """Yield ``fn(cfg, seed)`` for every seed of ``cfg["seeds"]``.

    With ``jobs`` 1, in this process, in the config's order; with more, in up to ``jobs``
    spawned worker processes (each pinned to ``cfg["threads"]`` torch threads), in the order
    they finish. A worker's exception is raised here.
    """
    yield from per_item(fn, cfg, check_seeds(cfg["seeds"]), jobs)


def per_item(fn: Callable[[dict, Any], T], cfg: dict, items: list, jobs: int = 1) -> Iterator[T]:
    """Yield ``fn(cfg, item)`` for every item, like ``per_seed`` over an arbitrary list of jobs."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs: expected an int >= 1 (processes), got {jobs!r}")
    if jobs == 1 or len(items) <= 1:
        for item in items:
            yield _in_worker(fn, cfg, item)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(min(jobs, len(items)), mp_context=mp.get_context("spawn")) as pool:
        for fut in as_completed([pool.submit(_in_worker, fn, cfg, it) for it in items]):
            yield fut.result()


def standalone(prog: str, add_arguments: Callable[[argparse.ArgumentParser], None],
               run: Callable[[argparse.Namespace], Any]) -> None:
    """``python -m surrogate_guard.experiments.<job>``: the subcommand without the CLI around it."""
    parser = argparse.ArgumentParser(prog=prog)
    add_arguments(parser)
    sys.exit(int(run(parser.parse_args()) or 0))
