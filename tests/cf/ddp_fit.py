"""Train the ml-100k baseline with the given trainer settings and write its validation curve (a script, not a
test module: under ``trainer.strategy=ddp`` Lightning runs it once per process, and only rank 0 writes).

    python tests/cf/ddp_fit.py DATA_FOLDER OUT_JSON --devices 2 --strategy ddp --batch-size 1024 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from dqrec.cf.fit import TrainConfig, fit_cf
from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.split import SplitConfig, assign_splits
from dqrec.training import Accelerator, Strategy, TrainerConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // args.devices))  # no oversubscription of the cores

    dataset = ingest(args.data, IngestConfig("ml-100k"))
    interactions = dataset.interactions
    labels = assign_splits(interactions, SplitConfig().method_for(dataset.source["split"]))
    train, valid = interactions[labels == "train"], interactions[labels == "valid"]
    defaults = TrainConfig().for_variant("base")
    config = defaults.__class__(**{**defaults.__dict__, "epochs": args.epochs, "patience": args.epochs,
                                   "batch_size": args.batch_size, "seed": args.seed, "progress": False})
    trainer = TrainerConfig(accelerator=Accelerator.CPU, devices=args.devices, strategy=Strategy(args.strategy))
    result = fit_cf(train, valid, dataset.users, dataset.items, None, config, trainer_config=trainer)
    if result.is_global_zero:
        args.out.write_text(json.dumps({"curve": result.validation_curve, "world_size": result.world_size}))


if __name__ == "__main__":
    main()
