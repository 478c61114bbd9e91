"""The GPU benchmark measures the GPU path: without a CUDA device it says so and fails, never reports CPU figures
as GPU ones."""

from __future__ import annotations

import sys

import pytest
import torch

from benchmarks import gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible: the benchmark would run")
def test_without_a_gpu_it_refuses_with_a_reason(monkeypatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", ["gpu"])

    assert gpu.main() == 2
    assert "no CUDA device is visible" in capsys.readouterr().err
