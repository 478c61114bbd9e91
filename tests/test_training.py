import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dqrec.training import (
    SPARSE_ABOVE_ROWS,
    busy_and_total_ticks,
    busy_cores,
    contention_warning,
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
    assert message is not None and message.startswith("1.6 of this machine's 2 cores were busy")
    assert "on 2 threads" in message and "one pipeline or experiment at a time" in message


def test_no_proc_stat_means_no_measurement(tmp_path: Path) -> None:
    assert busy_cores(0.01, tmp_path / "stat") is None


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="no /proc/stat to measure the machine's load from")
def test_a_machine_kept_busy_by_other_processes_gets_the_warning(caplog: pytest.LogCaptureFixture) -> None:
    cores = os.cpu_count() or 1
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        measured = busy_cores(0.5)
        warn_if_cores_are_busy.cache_clear()
        with caplog.at_level(logging.WARNING, logger="dqrec.training"):
            warn_if_cores_are_busy()
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert measured is not None and measured > cores / 2
    assert "cores were busy with other work" in caplog.text
