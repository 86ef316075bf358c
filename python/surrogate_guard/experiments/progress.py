"""Stages of a run: one tqdm bar per long step (its name, the oracle calls it made, its time), and
per stage the wall seconds, the oracle calls and the seconds spent inside watched oracles.

A bar's clock ticks while its step runs, even when the step (training, a search) reports nothing
until it ends: a daemon thread refreshes it twice a second. ``quiet`` shows no bar and starts no
thread; the seconds are kept either way.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Any, Iterator

__all__ = ["Stages"]

_FORMAT = "{desc}: {n_fmt} calls{postfix} [{elapsed}]"
_FORMAT_TOTAL = "{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} calls{postfix} [{elapsed}<{remaining}]"


class Stages:
    """Per stage, in the order run: wall ``seconds``, oracle ``calls`` (counted through ``update``)
    and ``oracle_s`` (the growth of the ``seconds`` of every oracle given to ``watch``)."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.oracle_s: dict[str, float] = {}
        self._watched: list[Any] = []
        self._bar: Any = None
        self._name: str | None = None

    def watch(self, oracle: Any) -> Any:
        """Add ``oracle`` (anything with a growing ``seconds``, e.g. a TimedOracle) to ``oracle_s``; returns it."""
        self._watched.append(oracle)
        return oracle

    def _oracle_seconds(self) -> float:
        return float(sum(o.seconds for o in self._watched))

    def update(self, calls: int) -> None:
        """Count ``calls`` oracle points against the running stage (an oracle's ``on_calls``)."""
        if self._name is not None:
            self.calls[self._name] = self.calls.get(self._name, 0) + int(calls)
        if self._bar is not None:
            self._bar.update(int(calls))

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None, bar: bool = True) -> Iterator[None]:
        """Time the block as stage ``name``; with ``bar``, show it (``total``: the calls expected)."""
        t0, o0 = time.perf_counter(), self._oracle_seconds()
        self._name = name
        self.calls.setdefault(name, 0)
        stop = threading.Event()
        ticker = None
        if bar and not self.quiet:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=name, file=sys.stderr, leave=True, dynamic_ncols=True, disable=None,
                             bar_format=_FORMAT if total is None else _FORMAT_TOTAL)
            ticker = threading.Thread(target=self._tick, args=(self._bar, stop), daemon=True)
            ticker.start()
        try:
            yield
        finally:
            stop.set()
            if ticker is not None:
                ticker.join()
            if self._bar is not None:
                self._bar.close()
            self._bar, self._name = None, None
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.oracle_s[name] = self.oracle_s.get(name, 0.0) + self._oracle_seconds() - o0

    @staticmethod
    def _tick(bar: Any, stop: threading.Event) -> None:
        while not stop.wait(0.5):
            bar.refresh()
