import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dqrec.training import (
    SPARSE_ABOVE_ROWS,
    busy_and_total_ticks,
    cgroup_cpu_limit,
    contention_warning,
    cpu_load,
    pairs_loader,
    uses_sparse_embeddings,
    warn_if_cores_are_busy,
)


@pytest.mark.parametrize("shuffle", [True, False])
def test_pairs_loader_yields_the_batches_of_a_plain_dataloader_epoch_after_epoch(shuffle: bool) -> None:
    # Same seed, same batches: switching loaders must not change any trained model.
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 1_000, 5_003), rng.integers(0, 300, 5_003)
    plain = DataLoader(TensorDataset(torch.tensor(users), torch.tensor(items)), batch_size=256, shuffle=shuffle,
                       generator=torch.Generator().manual_seed(11))
    gathered = pairs_loader(pd.DataFrame({"user_id": users, "item_id": items}), batch_size=256, seed=11,
                            shuffle=shuffle)
    for _ in range(3):
        expected, actual = list(plain), list(gathered)
        assert len(actual) == len(expected) == 20
        for (user_want, item_want), (user_got, item_got) in zip(expected, actual, strict=True):
            assert torch.equal(user_got, user_want) and torch.equal(item_got, item_want)
            assert user_got.dtype == torch.int64


def test_pairs_loader_copies_its_inputs() -> None:
    frame = pd.DataFrame({"user_id": np.arange(10), "item_id": np.arange(10)})
    loader = pairs_loader(frame, batch_size=10, seed=0, shuffle=False)
    frame.iloc[0, 0] = -1  # in place: a loader sharing the frame's buffer would see it
    (batch_users, _), = list(loader)
    assert batch_users.tolist() == list(range(10))


def test_auto_turns_to_sparse_embeddings_above_the_row_bound_and_never_with_weight_decay() -> None:
    assert not uses_sparse_embeddings("auto", SPARSE_ABOVE_ROWS, 0.0)
    assert uses_sparse_embeddings("auto", SPARSE_ABOVE_ROWS + 1, 0.0)
    assert not uses_sparse_embeddings("auto", SPARSE_ABOVE_ROWS + 1, 1e-4)
    assert uses_sparse_embeddings("sparse", 10, 0.0) and not uses_sparse_embeddings("dense", 10**7, 0.0)
    with pytest.raises(ValueError, match="sparse cannot apply weight_decay"):
        uses_sparse_embeddings("sparse", 10, 1e-4)


def test_proc_stat_ticks_count_idle_and_iowait_as_idle_and_guest_time_once() -> None:
    #                           user nice system idle iowait irq softirq steal guest guest_nice
    busy, total = busy_and_total_ticks("cpu  100 5 50 800 40 1 2 2 30 0")
    assert (busy, total) == (160, 1000)
    with pytest.raises(ValueError, match="aggregate 'cpu' line"):
        busy_and_total_ticks("cpu0 100 5 50 800 40 1 2 2 30 0")


def test_training_threads_that_do_not_fit_beside_the_busy_cores_are_named() -> None:
    assert contention_warning(busy=0.2, threads=2, cores=2) is None
    assert contention_warning(busy=4.0, threads=8, cores=16) is None
    message = contention_warning(busy=1.6, threads=2, cores=2)
    assert message is not None and message.startswith("1.6 of the 2 cores this process may use were busy")
    assert "on 2 threads" in message and "one pipeline or experiment at a time" in message
    oversubscribed = contention_warning(busy=0.0, threads=4, cores=1.5)  # a container's quota of 1.5 cores
    assert oversubscribed is not None and "on 4 threads where this process may use 1.5 cores" in oversubscribed
    assert "OMP_NUM_THREADS to at most 1" in oversubscribed


def test_no_proc_stat_means_no_measurement(tmp_path: Path) -> None:
    assert cpu_load(0.01, tmp_path / "stat") is None


def cgroup_tree(root: Path, own: str, cpu_max: dict[str, str]) -> Path:
    """A cgroup v2 tree under ``root`` with the given cpu.max per folder, and a /proc/self/cgroup naming ``own``."""
    for folder, line in cpu_max.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "cpu.max").write_text(line + "\n")
    (root / own.lstrip("/")).mkdir(parents=True, exist_ok=True)
    self_cgroup = root.parent / "self-cgroup"
    self_cgroup.write_text(f"0::{own}\n")
    return self_cgroup


def test_the_tightest_cpu_quota_from_the_processs_cgroup_up_is_the_limit(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    self_cgroup = cgroup_tree(root, "/jobs/a/b", {"jobs": "300000 100000", "jobs/a": "150000 100000",
                                                  "jobs/a/b": "max 100000"})
    assert cgroup_cpu_limit(self_cgroup, root) == (root / "jobs/a", 1.5)
    unlimited = cgroup_tree(tmp_path / "free", "/", {".": "max 100000"})
    assert cgroup_cpu_limit(unlimited, tmp_path / "free") is None
    assert cgroup_cpu_limit(tmp_path / "no-such-file", root) is None  # no cgroup v2: the machine's figures


def test_under_a_quota_the_load_is_the_cgroups_usage_against_the_quota(tmp_path: Path) -> None:
    folder = tmp_path / "container"
    folder.mkdir()
    (folder / "cpu.stat").write_text("usage_usec 1000000\nuser_usec 700000\nsystem_usec 300000\n")
    busy, cores = cpu_load(0.01, limit=(folder, 1.5))
    assert busy == 0.0 and cores == 1.5  # nothing else ran in the cgroup while it slept

    def other_work_in_the_cgroup() -> None:
        time.sleep(0.1)
        (folder / "cpu.stat").write_text("usage_usec 1300000\n")

    worker = threading.Thread(target=other_work_in_the_cgroup)
    worker.start()
    busy, _ = cpu_load(1.0, limit=(folder, 1.5))
    worker.join()
    assert 0.2 < busy <= 0.3  # 0.3 CPU seconds over a sample of at least 1 s
    (folder / "cpu.stat").write_text("user_usec 700000\n")
    with pytest.raises(ValueError, match="usage_usec"):
        cpu_load(0.01, limit=(folder, 1.5))


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="no /proc/stat to measure the machine's load from")
def test_a_machine_kept_busy_by_other_processes_gets_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    cores = os.cpu_count() or 1
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        measured = cpu_load(0.5)
        warn_if_cores_are_busy.cache_clear()
        with caplog.at_level(logging.WARNING, logger="dqrec.training"):
            warn_if_cores_are_busy()
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert measured is not None and measured[0] > cores / 2
    assert "cores this process may use were busy with other work" in caplog.text
