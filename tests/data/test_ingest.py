"""Ingest invariants: dense order-preserving ids, k-core, reproducible bytes, all-or-nothing writes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from dqrec.data import artifacts
from dqrec.data.errors import DataError
from dqrec.data.ingest import IngestConfig, ingest, kcore_filter, remap_ids
from tests.conftest import write_files


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_dense_ids_keep_the_numeric_order_of_raw_ids() -> None:
    frame = pd.DataFrame({"user_id": [30, 4, 30], "item_id": [100, 9, 25], "timestamp": [1, 2, 3],
                          "rating": [1.0, 2.0, 3.0]})
    remapped, users, items = remap_ids(frame)

    assert users.tolist() == [4, 30] and items.tolist() == [9, 25, 100]
    assert set(remapped["item_id"]) == {0, 1, 2}
    # dense id k stands for the k-th smallest raw id, so ordering by dense id is ordering by raw id
    assert (pd.Series(items).diff().dropna() > 0).all()
    raw_pairs = set(zip(users[remapped["user_id"]], items[remapped["item_id"]], strict=True))
    assert raw_pairs == {(30, 100), (4, 9), (30, 25)}


def test_kcore_leaves_only_entities_with_k_interactions() -> None:
    frame = pd.DataFrame({"user_id": [0, 0, 0, 1, 1, 2], "item_id": [0, 1, 2, 0, 1, 0]})
    kept, removed = kcore_filter(frame, 2)

    assert removed == 2  # user 2 (one interaction), then item 2 (one interaction)
    assert kept.groupby("user_id").size().min() >= 2
    assert kept.groupby("item_id").size().min() >= 2


def test_kcore_that_removes_everything_is_an_error() -> None:
    with pytest.raises(DataError, match="k-core"):
        kcore_filter(pd.DataFrame({"user_id": [0, 1], "item_id": [0, 1]}), 5)


def test_kcore_applies_before_remapping(tmp_path: Path) -> None:
    lines = "".join(f"{u} {' '.join(map(str, items))}\n" for u, items in
                    [(1, [5, 6, 7]), (2, [5, 6, 7]), (3, [5, 6, 9])])  # item 9 appears once
    folder = write_files(tmp_path / "seq", {"seq.txt": lines})
    dataset = ingest(folder, IngestConfig("seq", kcore=2))

    assert dataset.stats["kcore_removed"] == 1
    assert dataset.items["raw_id"].tolist() == ["5", "6", "7"]  # still dense, 9 gone
    assert dataset.interactions["item_id"].max() == dataset.stats["items"] - 1


def test_same_input_gives_byte_identical_artifacts(recbole_folder: Path, tmp_path: Path) -> None:
    artifacts.write_ingest(ingest(recbole_folder, IngestConfig("tiny")), tmp_path / "a")
    artifacts.write_ingest(ingest(recbole_folder, IngestConfig("tiny")), tmp_path / "b")

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_a_failed_write_leaves_the_previous_artifacts_untouched(recbole_folder: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ingest"
    dataset = ingest(recbole_folder, IngestConfig("tiny"))
    artifacts.write_ingest(dataset, out)
    before = digest(out)

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", fail)
    with pytest.raises(OSError, match="disk full"):
        artifacts.write_ingest(dataset._replace(stats={}), out)

    assert digest(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_canonical_tables_round_trip(recbole_folder: Path, tmp_path: Path) -> None:
    dataset = ingest(recbole_folder, IngestConfig("tiny"))
    artifacts.write_ingest(dataset, tmp_path / "ingest")

    again = artifacts.read_interactions(tmp_path / "ingest")
    pd.testing.assert_frame_equal(again, dataset.interactions, check_dtype=False)
    assert artifacts.read_source(tmp_path / "ingest")["split"] == "ratio"
