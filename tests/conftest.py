"""Shared fixtures: seeded, read-only test points for every barrier kind, and the devices to run
one test body on (style habit 7: every device present; the CUDA case skips, never fails, without one).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import surrogate_guard as sg

# Property-based tests (tests/test_fuzz.py): "ci" (the default, a few hundred cases in all, derandomized so
# `make test` is reproducible) or "fuzz" (`make fuzz`: HYPOTHESIS_PROFILE=fuzz, >= 10 000 cases in all).
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True, database=None,
                          suppress_health_check=_SLOW_OK)
settings.register_profile("fuzz", max_examples=1500, deadline=None, suppress_health_check=_SLOW_OK)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ALL_OPTIONS = [sg.BarrierOption(k, t) for k in sg.BARRIER_KINDS for t in sg.OPTION_TYPES]
# The CUDA case carries the `cuda` marker, so `-m cuda` (bench/gpu_check*.sh) selects it.
DEVICE_PARAMS = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


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


def _skip_without_native_cuda() -> None:
    if not sg.has_cuda():
        pytest.skip("device='cuda': needs surrogate_guard built with CUDA and a usable GPU (sg.has_cuda() is False)")


@pytest.fixture(params=DEVICE_PARAMS)
def device(request) -> str:
    """The device name for the native kernels: 'cpu', or 'cuda' (skipped unless sg.has_cuda())."""
    if request.param == "cuda":
        _skip_without_native_cuda()
    return request.param


@pytest.fixture(params=DEVICE_PARAMS)
def torch_device(request) -> str:
    """Like ``device``, for tests that hand the kernels torch tensors on that device: "cuda" also
    needs a CUDA build of torch (the native core and torch are separate builds)."""
    pytest.importorskip("torch")
    if request.param == "cuda":
        _skip_without_native_cuda()
        import torch

        if not torch.cuda.is_available():
            pytest.skip("device='cuda' with torch tensors: this torch build has no usable CUDA")
    return request.param
