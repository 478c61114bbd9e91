"""CF training-step time with the project's batch-gathering loader against a plain DataLoader over the same pairs,
from the artifacts of the current workspace (run the pipeline on lightgcn-gowalla first for the reference figure).

    python -m benchmarks.train_step [--variant full] [--steps 40]    # from the root of a workspace

Each loader feeds the same seeded batches to a freshly built model of the variant (the train stage's config):
forward, backward and Adam step. Then the batch-gathering loader again, once the process retains freed memory as
every stage does (``dqrec.allocator.retain_freed_memory``). Prints milliseconds per step, the implied seconds per
training epoch (without the validation pass) and interactions per second, and the ratios, measured in the same run.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from functools import partial

import torch
from torch.utils.data import DataLoader, TensorDataset

from dqrec.allocator import retain_freed_memory
from dqrec.cf.fit import TrainConfig, seeded_model
from dqrec.cf.model import TwoTowerCF
from dqrec.configtree import load_section
from dqrec.data.artifacts import read_items, read_source, read_split, read_users
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids
from dqrec.training import pairs_loader, quiet_lightning

WARMUP_STEPS = 5


def seconds_per_step(loader: DataLoader, build: Callable[[], TwoTowerCF], steps: int) -> float:
    model = build()
    optimiser = model.configure_optimizers()
    model.train()
    batches = iter(loader)
    for step in range(WARMUP_STEPS + steps):
        if step == WARMUP_STEPS:
            start = time.perf_counter()
        users, items = next(batches)
        loss = model.training_step((users, items), step)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="full")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    quiet_lightning()
    warnings.filterwarnings("ignore", message=".*self.trainer.* reference is not registered.*")  # no Trainer here
    torch.manual_seed(0)
    workspace = Workspace()
    dataset = read_source(workspace.ingest_dir)["dataset"]
    config = load_section(workspace.params_file, "train", TrainConfig).for_variant(args.variant)
    train = read_split(workspace.split_dir, "train")
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    sids = read_sids(workspace.sids_dir) if args.variant != "base" else None
    build = partial(seeded_model, train, users, items, sids, config)  # the same initial weights each call

    plain = DataLoader(TensorDataset(*(torch.tensor(train[column].to_numpy()) for column in ("user_id", "item_id"))),
                       batch_size=config.batch_size, shuffle=True, generator=torch.Generator().manual_seed(config.seed))
    gathered = partial(pairs_loader, train, config.batch_size, config.seed)  # a fresh one: the same batches
    steps_per_epoch = -(-len(train) // config.batch_size)
    print(f"{dataset}, variant '{args.variant}': {len(train):,} training pairs, batches of {config.batch_size}")
    timings = {}

    def measure(name: str, loader: DataLoader) -> None:
        timings[name] = seconds_per_step(loader, build, args.steps)
        print(f"{name}: {timings[name] * 1000:.1f} ms/step, {timings[name] * steps_per_epoch:.0f} s/epoch, "
              f"{config.batch_size / timings[name]:,.0f} interactions/s")

    measure("plain DataLoader", plain)
    measure("batch-gathering loader", gathered())
    print(f"ratio (batch-gathering / plain): {timings['batch-gathering loader'] / timings['plain DataLoader']:.2f}")
    if not retain_freed_memory():
        print("freed memory retained: not measured (the C library has no mallopt)")
        return
    measure("batch-gathering loader, freed memory retained", gathered())
    print("ratio (retained / default allocator): "
          f"{timings['batch-gathering loader, freed memory retained'] / timings['batch-gathering loader']:.2f}")


if __name__ == "__main__":
    main()
