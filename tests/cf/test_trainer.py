"""The trainer section: data-parallel training on two CPU processes matches one process, and the GPU path."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from dqrec.cf.fit import FitConfig, fit_cf
from dqrec.cf.model import CFConfig
from dqrec.evaluate.ranking import UserItems
from dqrec.evaluate.report import evaluate
from dqrec.training import Accelerator, TrainerConfig, device_of
from tests.conftest import REPO_ROOT, shared_dataset

SCRIPT = Path(__file__).with_name("ddp_fit.py")
EPOCHS = 8
# Measured on ml-100k, 8 epochs: best validation NDCG@20 0.1074 / 0.1093 / 0.1094 for seeds 2025-2027 in one
# process (1.9 % apart), 0.1097 under DDP. DDP cannot match to the bit: each process draws its shard of another
# permutation, so the batches differ; what it must match is the level, within seed noise. 5 % is 2.5 x that spread.
TOLERANCE = 0.05


def fit_curve(data: Path, out: Path, *extra: str) -> dict:
    subprocess.run([sys.executable, str(SCRIPT), str(data), str(out), "--epochs", str(EPOCHS), *extra],
                   cwd=REPO_ROOT, check=True, capture_output=True, timeout=600)
    return json.loads(out.read_text())


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_reaches_the_single_process_validation_ndcg(tmp_path: Path) -> None:
    data = shared_dataset("ml-100k")
    single = fit_curve(data, tmp_path / "single.json")
    # The same effective batch: 2 processes x 1,024 pairs = one process x 2,048.
    ddp = fit_curve(data, tmp_path / "ddp.json", "--devices", "2", "--strategy", "ddp", "--batch-size", "1024")

    assert (single["world_size"], ddp["world_size"]) == (1, 2)
    best_single, best_ddp = max(single["curve"]), max(ddp["curve"])
    assert abs(best_ddp / best_single - 1) <= TOLERANCE, (best_single, best_ddp)
    assert ddp["curve"][-1] > 2 * ddp["curve"][0]  # it learnt, it did not just match a flat start


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible: the GPU path needs one")
def test_training_and_full_ranking_run_on_the_gpu(toy) -> None:
    train, valid, users, items, sids = toy
    trainer = TrainerConfig(accelerator=Accelerator.GPU)
    config = FitConfig(model=CFConfig(dim=16, n_negatives=32, sid_features=True, linkage=True), epochs=2,
                       patience=2, batch_size=256, progress=False)
    result = fit_cf(train, valid, users, items, sids, config, trainer_config=trainer)
    assert device_of(trainer).type == "cuda" and np.isfinite(result.validation_curve).all()

    known = UserItems.from_frame(train, len(users), len(items))
    targets = UserItems.from_frame(valid, len(users), len(items))
    counts = np.bincount(train["user_id"], minlength=len(users)), np.bincount(train["item_id"], minlength=len(items))
    reports = {}
    for device in ("cpu", "cuda"):
        model = result.model.to(device)
        reports[device] = evaluate(lambda batch, m=model: m.scores(batch), known, targets, *counts, ks=(10, 20))
    assert reports["cuda"]["ndcg@20"] == pytest.approx(reports["cpu"]["ndcg@20"], abs=1e-3)


def test_single_process_keeps_the_device_kind_and_bad_settings_are_refused() -> None:
    ddp = TrainerConfig(devices=4, num_nodes=2, strategy="ddp")
    assert ddp.single_process() == replace(ddp, devices=1, num_nodes=1, strategy="auto")
    assert device_of(TrainerConfig(accelerator=Accelerator.CPU)).type == "cpu"
    with pytest.raises(ValueError, match="devices: expected a whole number or 'auto'"):
        TrainerConfig(devices="two")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA device is visible"):
            device_of(TrainerConfig(accelerator=Accelerator.GPU))
