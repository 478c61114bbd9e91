"""Lightning helpers shared by the pre-training encoder, DQ-VAE and the CF model: the one place a Lightning
Trainer is built (from params.yaml's ``trainer`` section), the best-epoch keeper and the batch loaders."""

from __future__ import annotations

import copy
import functools
import logging
import os
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

import lightning as L
import pandas as pd
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

log = logging.getLogger(__name__)


class Accelerator(StrEnum):
    AUTO = "auto"  # a GPU where one is visible, else the CPU
    CPU = "cpu"
    GPU = "gpu"


class Strategy(StrEnum):
    AUTO = "auto"  # one process
    DDP = "ddp"  # one process per device, gradients all-reduced (gloo on CPU, NCCL on GPU)


@dataclass(frozen=True)
class TrainerConfig:
    """params.yaml's ``trainer`` section: where and how every Lightning trainer of the pipeline runs.

    Under ``ddp`` each process trains on its shard of every epoch's batches, so the effective batch is
    ``batch_size × devices × num_nodes``. Launch several nodes with Lightning's own launchers (torchrun, SLURM):
    each process then runs the same stage command."""

    accelerator: Accelerator = Accelerator.AUTO
    devices: int | str = 1  # per node: a count, or "auto" (every visible device)
    strategy: Strategy = Strategy.AUTO
    num_nodes: int = 1
    precision: str = "32-true"  # Lightning's precision names: 32-true, 16-mixed, bf16-mixed, 64-true

    def __post_init__(self) -> None:
        if isinstance(self.devices, str) and self.devices != "auto":
            raise ValueError(f"devices: expected a whole number or 'auto', got {self.devices!r}")
        if isinstance(self.devices, int) and self.devices < 1:
            raise ValueError(f"devices: expected at least 1, got {self.devices}")
        if self.num_nodes < 1:
            raise ValueError(f"num_nodes: expected at least 1, got {self.num_nodes}")

    def single_process(self) -> TrainerConfig:
        """The same device kind in one process (for work that data parallelism cannot split)."""
        return replace(self, devices=1, strategy=Strategy.AUTO, num_nodes=1)


DEFAULT_TRAINER = TrainerConfig()


def device_of(config: TrainerConfig) -> torch.device:
    """The device a single-process computation (full-ranking evaluation, serving) runs on under ``config``."""
    if config.accelerator is Accelerator.GPU and not torch.cuda.is_available():
        raise RuntimeError("trainer.accelerator is gpu but no CUDA device is visible (set it to auto or cpu)")
    if config.accelerator is not Accelerator.CPU and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def busy_and_total_ticks(proc_stat_line: str) -> tuple[int, int]:
    """(busy, total) clock ticks of the aggregate ``cpu`` line of /proc/stat: ``cpu user nice system idle iowait
    irq softirq steal guest guest_nice``. Idle and iowait are the idle ticks; guest time is counted inside user and
    nice already, so only the first eight fields add up to the total."""
    name, *fields = proc_stat_line.split()
    if name != "cpu" or len(fields) < 4:
        raise ValueError(f"/proc/stat: expected the aggregate 'cpu' line, got {proc_stat_line[:80]!r}")
    ticks = [int(field) for field in fields[:8]]
    idle = sum(ticks[3:5])
    return sum(ticks) - idle, sum(ticks)


def cgroup_cpu_limit(self_cgroup: Path = Path("/proc/self/cgroup"),
                     root: Path = Path("/sys/fs/cgroup")) -> tuple[Path, float] | None:
    """The cgroup v2 folder whose CPU quota binds this process tightest, and the cores' worth of CPU time it allows
    (``cpu.max``: quota / period), looked for from the process's own cgroup up to ``root``; None without a quota
    (no cgroup v2, or ``max`` all the way up). A container limited to fewer cores than its host has one: there
    /proc/stat and ``os.cpu_count()`` describe the host, not what the container may use."""
    try:
        own = next((line[3:] for line in self_cgroup.read_text().splitlines() if line.startswith("0::")), None)
    except OSError:
        return None
    if own is None:
        return None
    folder, tightest = root / own.lstrip("/"), None
    while True:
        cpu_max = folder / "cpu.max"
        quota, _, period = cpu_max.read_text().partition(" ") if cpu_max.is_file() else ("max", "", "")
        if quota != "max":
            cores = int(quota) / int(period)
            if tightest is None or cores < tightest[1]:
                tightest = (folder, cores)
        if folder == root or root not in folder.parents:
            return tightest
        folder = folder.parent


def cgroup_usage_seconds(folder: Path) -> float:
    """CPU seconds every process of a cgroup v2 has used (``cpu.stat``'s ``usage_usec``)."""
    for line in (folder / "cpu.stat").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == "usage_usec":
            return int(value) / 1e6
    raise ValueError(f"{folder / 'cpu.stat'}: expected a 'usage_usec' line")


def cpu_load(sample_seconds: float = 0.5, proc_stat: Path = Path("/proc/stat"),
             limit: tuple[Path, float] | None = None) -> tuple[float, float] | None:
    """(busy, cores): how many cores' worth of CPU other work (and this process's other threads) spends over
    ``sample_seconds`` while the calling thread sleeps, and how many there are to spend. Under a cgroup CPU quota
    (``limit``, from ``cgroup_cpu_limit``) both are the quota's: the cgroup's usage against quota / period; else
    the machine's: /proc/stat against ``os.cpu_count()``. None where neither can be read."""
    try:
        if limit is not None:
            folder, cores = limit
            before, start = cgroup_usage_seconds(folder), time.monotonic()
            time.sleep(sample_seconds)
            return (cgroup_usage_seconds(folder) - before) / (time.monotonic() - start), cores
        before_ticks = busy_and_total_ticks(proc_stat.read_text().split("\n", 1)[0])
        time.sleep(sample_seconds)
        after_ticks = busy_and_total_ticks(proc_stat.read_text().split("\n", 1)[0])
    except OSError:
        return None
    elapsed = after_ticks[1] - before_ticks[1]
    cores = os.cpu_count() or 1
    return None if elapsed <= 0 else (cores * (after_ticks[0] - before_ticks[0]) / elapsed, cores)


def contention_warning(busy: float, threads: int, cores: float) -> str | None:
    """What to tell a user whose CPU training starts on ``threads`` threads while other work keeps ``busy`` of the
    ``cores`` cores it may use busy, or None when the threads fit beside it (half a core of slack for the odd
    background task)."""
    if busy + threads <= cores + 0.5:
        return None
    if threads > cores + 0.5:
        return (f"CPU training starts on {threads} threads where this process may use {cores:g} cores: the threads "
                f"beyond them wait on each other. Set OMP_NUM_THREADS to at most {max(1, int(cores))} "
                "(docs/running.md, Determinism).")
    return (f"{busy:.1f} of the {cores:g} cores this process may use were busy with other work as CPU training "
            f"started on {threads} threads: trainings that share cores slow each other far more than their number "
            "(an ml-100k epoch took 0.9 s alone and about 30 s beside another training; the results stay the same). "
            "Run one pipeline or experiment at a time (docs/running.md, Determinism).")


@functools.cache
def warn_if_cores_are_busy() -> None:
    """Once per process: sample the load on the cores this process may use (its container's quota where it has
    one, else the machine's) before the first CPU training, and warn if it competes."""
    try:
        load = cpu_load(limit=cgroup_cpu_limit())
    except ValueError as error:  # a measurement that failed must not stop the training it only advises
        log.warning(f"could not measure the load on this machine's cores: {error}")
        return
    message = None if load is None else contention_warning(load[0], torch.get_num_threads(), load[1])
    if message:
        log.warning(message)


def build_trainer(config: TrainerConfig, max_epochs: int, callbacks: list[L.Callback], progress: bool,
                  num_sanity_val_steps: int = 0) -> L.Trainer:
    """The pipeline's Lightning trainer: deterministic, no logger and no Lightning checkpoints (each stage writes
    its own artifacts), on the devices ``config`` names. Where a GPU may be used, an op without a deterministic CUDA
    kernel warns instead of stopping the run. Before the first CPU training of a process, a warning if other work
    already keeps the cores busy."""
    if device_of(config).type == "cpu":
        warn_if_cores_are_busy()
    deterministic: bool | str = True
    if config.accelerator is not Accelerator.CPU:
        # cuBLAS is deterministic only with a fixed workspace (set before its first call).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        deterministic = "warn" if torch.cuda.is_available() else True
    return L.Trainer(max_epochs=max_epochs, accelerator=config.accelerator.value, devices=config.devices,
                     strategy=config.strategy.value, num_nodes=config.num_nodes, precision=config.precision,
                     deterministic=deterministic, logger=False, enable_checkpointing=False, enable_model_summary=False,
                     enable_progress_bar=progress, num_sanity_val_steps=num_sanity_val_steps, callbacks=callbacks)


class UnpaddedShard(DistributedSampler):
    """Rows 0..n-1, in order, split across the processes of a distributed run without repeats.

    Lightning would give evaluation loaders a DistributedSampler, which pads every shard to the same length by
    repeating rows: a validation user would then count twice in the selection metric. In one process this is
    the sequential order, so single-process runs see the same batches as with a plain DataLoader."""

    def __init__(self, n: int) -> None:  # noqa: D107 (rank and world size are read when iterated: after launch)
        self.n = n

    def _rows(self) -> range:
        if dist.is_available() and dist.is_initialized():
            return range(dist.get_rank(), self.n, dist.get_world_size())
        return range(self.n)

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def set_epoch(self, epoch: int) -> None:
        pass  # the order never changes


def quiet_lightning() -> None:
    """Silence Lightning's known, harmless notices on CPU-only runs (BRIEF §6)."""
    for pattern in (".*does not have many workers.*", ".*GPU available but not used.*", ".*LeafSpec.*",
                    ".*TPU available.*", ".*smaller than the logging interval.*", ".*litlogger.*"):
        warnings.filterwarnings("ignore", message=pattern)
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)


class KeepBest(L.Callback):
    """Restore, when training ends, the weights with the best value of ``monitor`` on validation data
    (lowest for ``mode="min"``, highest for ``"max"``).

    Give the starting point's value and state to let it win too (training may only make things worse).
    """

    def __init__(self, monitor: str, initial_value: float | None = None,
                 initial_state: dict[str, torch.Tensor] | None = None, mode: str = "min") -> None:
        self.monitor = monitor
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = float("inf") if initial_value is None else self.sign * initial_value
        self.state = copy.deepcopy(initial_state)
        self.curve: list[float] = [] if initial_value is None else [initial_value]

    def on_validation_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None or trainer.sanity_checking:
            return
        self.curve.append(float(value))
        if self.sign * float(value) < self.best:
            self.best = self.sign * float(value)
            self.state = copy.deepcopy(module.state_dict())

    def on_fit_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        if self.state is not None:
            module.load_state_dict(self.state)


class _BatchGatheredTensors(TensorDataset):
    """A TensorDataset that the DataLoader reads a whole batch of at once (one indexing op per tensor), not row
    by row and then stacked: on gowalla's 2048-pair batches the row-by-row path took a fifth of each step."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        index = torch.tensor(indices)
        return tuple(tensor[index] for tensor in self.tensors)


def _as_is(batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return batch


def pairs_loader(interactions: pd.DataFrame, batch_size: int, seed: int, shuffle: bool = True,
                 with_positions: bool = False) -> DataLoader:
    """Batches of (user ids (B,), item ids (B,)) of ``interactions``' pairs, and with ``with_positions`` their row
    numbers in the frame (B,), shuffled by a generator seeded with ``seed``. The sampler and its draws are
    DataLoader's own (``shuffle=True``), so the batches are those of a plain DataLoader. The ids are copied: the
    frame's arrays may be read-only or change later."""
    columns = [torch.tensor(interactions[column].to_numpy()) for column in ("user_id", "item_id")]
    if with_positions:
        columns.append(torch.arange(len(interactions)))
    return DataLoader(_BatchGatheredTensors(*columns), batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed), collate_fn=_as_is)


class EmbeddingGradients(StrEnum):
    """How the id embedding tables (users, items, item biases) learn."""

    AUTO = "auto"  # dense up to SPARSE_ABOVE_ROWS table rows, sparse above (and dense with weight decay)
    DENSE = "dense"  # Adam over every row each step: what every result here was measured with
    SPARSE = "sparse"  # sparse gradients and lazy Adam: a step updates only the rows its batch looked up


# Dense Adam sweeps every row of every table each step: its cost per step grows with users + items, so an epoch
# costs interactions x (users + items). Above this many rows, auto turns to sparse gradients. Every catalogue the
# project has results on (gowalla: 71k users and items) is below it, so their results are dense Adam's.
SPARSE_ABOVE_ROWS = 100_000


def uses_sparse_embeddings(mode: EmbeddingGradients | str, rows: int, weight_decay: float) -> bool:
    """Whether tables of ``rows`` rows in all learn through sparse gradients under ``mode``."""
    mode = EmbeddingGradients(mode)
    if mode is EmbeddingGradients.SPARSE and weight_decay > 0:
        raise ValueError(f"embedding_gradients: sparse cannot apply weight_decay ({weight_decay}); set weight_decay "
                         "to 0 or embedding_gradients to dense")
    if mode is EmbeddingGradients.AUTO:
        return rows > SPARSE_ABOVE_ROWS and weight_decay == 0
    return mode is EmbeddingGradients.SPARSE


def adam(module: torch.nn.Module, lr: float, weight_decay: float
         ) -> torch.optim.Optimizer | list[torch.optim.Optimizer]:
    """Adam over ``module``'s parameters; where some embedding tables are sparse (``nn.Embedding(sparse=True)``),
    lazy Adam (torch's SparseAdam) over those and Adam over the rest: the module then steps both itself
    (``manual_step``)."""
    sparse = {id(m.weight) for m in module.modules() if isinstance(m, torch.nn.Embedding) and m.sparse}
    dense = [p for p in module.parameters() if id(p) not in sparse]
    # fused: one kernel over each parameter instead of a dozen elementwise passes over the embedding tables.
    dense_adam = torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay, fused=True)
    if not sparse:
        return dense_adam
    return [dense_adam, torch.optim.SparseAdam([p for p in module.parameters() if id(p) in sparse], lr=lr)]


def manual_step(module: L.LightningModule, loss: torch.Tensor) -> None:
    """One step of every optimiser of a module that optimises by hand (``automatic_optimization`` off)."""
    optimisers = module.optimizers()
    optimisers = optimisers if isinstance(optimisers, list) else [optimisers]
    for optimiser in optimisers:
        optimiser.zero_grad()
    module.manual_backward(loss)
    for optimiser in optimisers:
        optimiser.step()
