"""Resource ceilings: working memory and work per call, checked before anything is allocated.

Two ceilings, read at every check (no module state):

- **memory**: bytes a call may allocate. Default: half of the memory this process can really get,
  the smaller of physical memory, the cgroup limit (``memory.max``) and the process's own limits
  (``RLIMIT_AS``, ``RLIMIT_DATA``), minus what it already uses. ``SG_MAX_MEMORY`` (bytes, or with
  a K/M/G/T suffix) sets it.
- **work**: abstract units a call may run (Monte Carlo path-steps, finite-difference node-steps,
  rows times layer widths). Default 2e12 (minutes to hours on one core, about a minute on a GPU);
  ``SG_MAX_WORK`` sets it.

Every error says what was asked, what it would need, and how to raise the ceiling. ``threads``
arguments are checked by ``check_threads``: an int in [1, MAX_THREADS].
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["MAX_THREADS", "DEFAULT_WORK", "SMALL_BYTES", "ResourceError", "available_memory", "memory_ceiling", "work_ceiling",
           "check_memory", "check_work", "check_threads"]

MAX_THREADS = 1024
DEFAULT_WORK = 2e12
SMALL_BYTES = 1 << 16  # check_memory: requests up to 64 KiB always pass
_SUFFIX = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


class ResourceError(ValueError):
    """A call would exceed a resource ceiling; raised before anything is allocated or started."""


def _parse(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return None
    text = raw.strip().upper().removesuffix("B")
    unit = text[-1] if text and text[-1] in _SUFFIX else ""
    try:
        value = float(text[: len(text) - len(unit)]) * _SUFFIX[unit]
    except ValueError:
        raise ValueError(f"{name}: expected a number of bytes or units (suffix K, M, G, T allowed), got {raw!r}") from None
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {raw!r}")
    return value


def _cgroup_limit() -> float:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if text.isdigit():
            return float(text)
    return float("inf")


def _rss() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return float(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0.0


def available_memory() -> float:
    """Bytes this process can still allocate: min(physical, cgroup, RLIMIT_AS, RLIMIT_DATA) - in use."""
    limits = [_cgroup_limit()]
    try:
        limits.append(float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        import resource

        for rl in (resource.RLIMIT_AS, resource.RLIMIT_DATA):
            soft = resource.getrlimit(rl)[0]
            if soft != resource.RLIM_INFINITY:
                limits.append(float(soft))
    except (ImportError, OSError, ValueError):
        pass
    return max(0.0, min(limits) - _rss())


def memory_ceiling() -> float:
    """The memory ceiling of one call in bytes (``SG_MAX_MEMORY``, else half of ``available_memory``)."""
    env = _parse("SG_MAX_MEMORY")
    return env if env is not None else 0.5 * available_memory()


def work_ceiling() -> float:
    """The work ceiling of one call (``SG_MAX_WORK``, else ``DEFAULT_WORK``)."""
    env = _parse("SG_MAX_WORK")
    return env if env is not None else DEFAULT_WORK


def check_memory(nbytes: float, what: str) -> None:
    """Raise ``ResourceError`` when ``what`` would need more than the memory ceiling.

    Requests of at most ``SMALL_BYTES`` (64 KiB) always pass: no ceiling worth setting is that low,
    and reading it (the environment, /proc and /sys: 0.5-20 us) would cost more than the calls that
    small (a one-point predict takes ~2 us).
    """
    if nbytes <= SMALL_BYTES:
        return
    cap = memory_ceiling()
    if nbytes > cap:
        raise ResourceError(f"{what} would need {nbytes / 2**30:.3g} GiB of working memory, above the ceiling of "
                            f"{cap / 2**30:.3g} GiB (half of what this process can allocate); use a smaller batch or "
                            f"set SG_MAX_MEMORY (e.g. SG_MAX_MEMORY=64G) if the machine really has it")


def check_work(units: float, what: str, unit: str = "units") -> None:
    """Raise ``ResourceError`` when ``what`` would run more than the work ceiling."""
    cap = work_ceiling()
    if units > cap:
        raise ResourceError(f"{what} would run {units:.3g} {unit}, above the work ceiling of {cap:.3g}; reduce it or "
                            f"set SG_MAX_WORK (e.g. SG_MAX_WORK=1e14) to allow it")


def check_threads(threads: Any, name: str = "threads", *, allow_none: bool = True) -> int | None:
    """``threads``: None (the library default) or an int in [1, MAX_THREADS] (numpy ints too)."""
    if threads is None and allow_none:
        return None
    if isinstance(threads, (bool, np.bool_)) or not isinstance(threads, (int, np.integer)):
        raise TypeError(f"{name}: expected an int in [1, {MAX_THREADS}]{' or None' if allow_none else ''}, "
                        f"got {type(threads).__name__} {threads!r}")
    if not 1 <= int(threads) <= MAX_THREADS:
        raise ValueError(f"{name}: expected an int in [1, {MAX_THREADS}], got {int(threads)}")
    return int(threads)
