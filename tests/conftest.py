"""Shared fixtures: seeded, read-only test points for every barrier kind."""
from __future__ import annotations

import numpy as np
import pytest

import surrogate_guard as sg

ALL_OPTIONS = [sg.BarrierOption(k, t) for k in sg.BARRIER_KINDS for t in sg.OPTION_TYPES]


def kind_points(option: "sg.BarrierOption", n: int, seed: int) -> np.ndarray:
    """n points of the paper box for ``option``; for up kinds the barrier is drawn from [101, 250]."""
    X = sg.presets.get("paper").sample(n, seed=seed).copy()
    if not option.is_down:
        X[:, 1] = np.random.default_rng(seed + 7919).uniform(101.0, 250.0, n)
    X.setflags(write=False)
    return X


def pytest_make_parametrize_id(config, val, argname):
    if isinstance(val, sg.BarrierOption):
        return f"{val.kind}-{val.type}"
    return None


@pytest.fixture(params=ALL_OPTIONS, ids=lambda o: f"{o.kind}-{o.type}")
def option(request):
    return request.param
