"""The synthetic generator: seeded, skewed like real catalogues, and readable by the ingest stage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.synthetic import SyntheticConfig, interactions, write_synthetic

CONFIG = SyntheticConfig(interactions=60_000, seed=4)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    first = interactions(CONFIG)

    pd.testing.assert_frame_equal(first, interactions(CONFIG))
    assert not first.equals(interactions(SyntheticConfig(interactions=60_000, seed=5)))


def test_pairs_are_unique_times_increase_and_the_size_is_about_the_one_asked() -> None:
    frame = interactions(CONFIG)

    assert not frame.duplicated(["user_id", "item_id"]).any()
    assert (frame.groupby("user_id")["timestamp"].diff().dropna() > 0).all()
    assert 0.8 * CONFIG.interactions <= len(frame) <= CONFIG.interactions
    assert frame["user_id"].nunique() == CONFIG.n_users


def test_popularity_and_activity_are_skewed() -> None:
    frame = interactions(CONFIG)
    popularity = frame["item_id"].value_counts().to_numpy()  # descending
    activity = frame["user_id"].value_counts()

    head = popularity[: max(1, len(popularity) // 100)].sum() / len(frame)
    assert head > 0.1  # the top 1 % of items take over a tenth of the interactions
    assert activity.max() > 10 * activity.median()
    assert activity.min() >= 1


def test_the_written_folder_ingests_with_its_attributes(tmp_path: Path) -> None:
    folder = tmp_path / "synthetic"
    shape = write_synthetic(CONFIG, folder)
    dataset = ingest(folder, IngestConfig(dataset="synthetic"))

    assert dataset.stats["interactions"] == shape["interactions"]
    assert (dataset.stats["users"], dataset.stats["items"]) == (shape["users"], shape["items"])
    assert {"category", "brand"} <= set(dataset.vocab["item"]) and "region" in dataset.vocab["user"]
    assert dataset.items["category"].map(len).max() == 2  # some items have two categories
    assert np.isclose(dataset.stats["attribute_coverage"]["item.brand"], 1.0)
