"""The GPU path, measured against the CPU run of the same workspace (run the pipeline on the CPU first).

    python -m benchmarks.gpu [--out gpu.json]      # from the root of a workspace where the pipeline ran

1. Evaluation on the device: every trained (CPU) checkpoint scored on the test split on the CPU and on the GPU;
   the metrics must agree (the same weights, only float summation order differs), and the times are printed.
2. Training on the device: pretrain and every variant retrained with ``trainer.accelerator: gpu`` and the fit
   config each checkpoint records; the GPU draws other random numbers than the CPU (negatives, dropout), so its
   figures are another seed's, not the same ones: they are printed beside the CPU's, with the time per epoch.
Nothing in the workspace is overwritten: the GPU checkpoints go to a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from dqrec.cf.artifacts import load_trained, trained_fit_config, trained_variants
from dqrec.cf.fit import fit_cf
from dqrec.configtree import load_section
from dqrec.data.artifacts import read_items, read_source, read_split, read_users
from dqrec.evaluate.scoring import attach_test_inputs, score_test
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids
from dqrec.represent.pretrain import PretrainConfig, pretrain
from dqrec.training import Accelerator, TrainerConfig

# Scores differ between devices only in float32 summation order: ties may break differently, nothing more.
METRIC_TOLERANCE = 1e-3
METRICS = ("recall@20", "ndcg@20")


def timed(work):  # noqa: ANN001, ANN201 (any callable, its result)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = work()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def evaluation_on_both_devices(workspace: Workspace, variant: str) -> dict:
    model = load_trained(workspace, variant)
    inputs = attach_test_inputs(model, workspace)
    score_test(model, inputs, "cuda")  # warm-up: CUDA context, kernels
    cpu, cpu_seconds = timed(lambda: score_test(model, inputs, "cpu"))
    gpu, gpu_seconds = timed(lambda: score_test(model, inputs, "cuda"))
    differences = {m: abs(gpu[m] - cpu[m]) for m in METRICS}
    return {"cpu": {m: cpu[m] for m in METRICS}, "gpu": {m: gpu[m] for m in METRICS},
            "cpu_seconds": cpu_seconds, "gpu_seconds": gpu_seconds, "max_difference": max(differences.values()),
            "agree": max(differences.values()) <= METRIC_TOLERANCE}


class TrainingInputs(NamedTuple):
    """What pretrain and every variant train on, read once."""

    train: pd.DataFrame
    valid: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame

    @classmethod
    def of(cls, workspace: Workspace) -> TrainingInputs:
        return cls(read_split(workspace.split_dir, "train"), read_split(workspace.split_dir, "valid"),
                   read_users(workspace.ingest_dir), read_items(workspace.ingest_dir))


def training_on_the_gpu(workspace: Workspace, inputs: TrainingInputs, variant: str, folder: Path) -> dict:
    config = replace(trained_fit_config(load_trained(workspace, variant)), progress=False)
    sids = read_sids(workspace.sids_dir) if variant != "base" else None
    result = fit_cf(*inputs, sids, config, checkpoint=folder / f"{variant}.ckpt",
                    trainer_config=TrainerConfig(accelerator=Accelerator.GPU))
    epochs = len(result.validation_curve)
    return {"val_ndcg@20": max(result.validation_curve), "best_epoch": result.best_epoch, "epochs": epochs,
            "seconds": result.seconds, "seconds_per_epoch": result.seconds / epochs,
            "interactions_per_second": result.trained_interactions / result.seconds,
            "finite": bool(np.isfinite(result.validation_curve).all())}


def pretraining_on_the_gpu(workspace: Workspace, inputs: TrainingInputs) -> dict:
    config = replace(load_section(workspace.params_file, "pretrain", PretrainConfig), progress=False)
    (representations, seconds) = timed(lambda: pretrain(*inputs, config, TrainerConfig(accelerator=Accelerator.GPU)))
    best = representations.best_epoch - 1
    return {"val_loss": representations.history["val_loss"][best], "best_epoch": representations.best_epoch,
            "seconds": seconds, "finite": bool(np.isfinite(representations.users).all()
                                               and np.isfinite(representations.items).all())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device is visible: this benchmark measures the GPU path and needs one", file=sys.stderr)
        return 2
    workspace = Workspace()
    cpu_train = workspace.read_metrics("train")
    cpu_pretrain = workspace.read_metrics("pretrain")
    cpu_timings = workspace.read_timings("train")  # local to the machine that ran the stage: may be absent here
    figures: dict = {"dataset": read_source(workspace.ingest_dir)["dataset"], "device": torch.cuda.get_device_name(),
                     "torch": torch.__version__, "evaluation": {}, "training": {}}
    print(f"{figures['dataset']} on {figures['device']} (torch {torch.__version__})")

    for variant in trained_variants(workspace):
        row = figures["evaluation"][variant] = evaluation_on_both_devices(workspace, variant)
        print(f"evaluate {variant:>7}: NDCG@20 cpu {row['cpu']['ndcg@20']:.6f} gpu {row['gpu']['ndcg@20']:.6f} "
              f"(|diff| <= {row['max_difference']:.1e}: {'agree' if row['agree'] else 'DISAGREE'}); "
              f"{row['cpu_seconds']:.2f} s cpu, {row['gpu_seconds']:.2f} s gpu")

    inputs = TrainingInputs.of(workspace)
    row = figures["pretrain"] = pretraining_on_the_gpu(workspace, inputs)
    print(f"pretrain on gpu: validation loss {row['val_loss']:.4f} at epoch {row['best_epoch']} "
          f"(cpu: {cpu_pretrain['val_loss']:.4f} at epoch {cpu_pretrain['best_epoch']}), {row['seconds']:.1f} s")

    with tempfile.TemporaryDirectory() as folder:
        for variant in trained_variants(workspace):
            row = figures["training"][variant] = training_on_the_gpu(workspace, inputs, variant, Path(folder))
            cpu = cpu_train[variant]
            cpu_speed = cpu_timings.get(variant, {}).get("interactions_per_second")
            print(f"train {variant:>7} on gpu: validation NDCG@20 {row['val_ndcg@20']:.4f} at epoch "
                  f"{row['best_epoch']}/{row['epochs']} (cpu: {cpu['val_ndcg@20']:.4f} at "
                  f"{cpu['best_epoch']}/{cpu['epochs']}); {row['seconds_per_epoch']:.2f} s/epoch, "
                  f"{row['interactions_per_second']:,.0f} interactions/s "
                  f"(cpu {f'{cpu_speed:,.0f}' if cpu_speed else 'not timed on this machine'})")

    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    healthy = all(r["agree"] for r in figures["evaluation"].values()) and figures["pretrain"]["finite"] and all(
        r["finite"] for r in figures["training"].values())
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
