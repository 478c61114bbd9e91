"""The canonical split: disjoint, chronological per user, sized exactly as the protocol says."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.split import SPLITS, SplitMethod, assign_splits, holdout_sizes, tie_broken_shares
from tests.conftest import shared_dataset


def random_interactions(seed: int, users: int = 60, with_ties: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        n = int(rng.integers(1, 40))
        items = rng.choice(500, size=n, replace=False)
        # Few distinct timestamps: many ties, which the item id must break.
        times = rng.integers(0, 5 if with_ties else 10**9, size=n)
        rows += [(user, int(i), int(t)) for i, t in zip(items, times, strict=True)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).sample(frac=1, random_state=seed)


def test_half_to_even_rounding_of_holdout_sizes() -> None:
    assert [holdout_sizes(n, 0.1) for n in (1, 4, 5, 15, 25, 35, 44)] == [1, 1, 1, 2, 2, 4, 4]


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("method", [SplitMethod.RATIO, SplitMethod.LEAVE_ONE_OUT])
def test_temporal_splits_are_chronological_and_sized(seed: int, method: SplitMethod) -> None:
    frame = random_interactions(seed)
    labels = assign_splits(frame, method)

    order = {"train": 0, "valid": 1, "test": 2}
    for _, user in frame.assign(split=labels).groupby("user_id"):
        n = len(user)
        ranked = user.sort_values(["timestamp", "item_id"])
        # In (timestamp, item id) order the labels never go back: train..., valid..., test...
        assert ranked["split"].map(order).is_monotonic_increasing
        n_test = 1 if method is SplitMethod.LEAVE_ONE_OUT else holdout_sizes(n, 0.1)
        n_valid = 1 if method is SplitMethod.LEAVE_ONE_OUT else holdout_sizes(n, 0.1)
        counts = user["split"].value_counts()
        if n > n_test + n_valid:
            assert (counts.get("test", 0), counts.get("valid", 0)) == (n_test, n_valid)
        else:
            assert counts.to_dict() == {"train": n}  # too short to split: train keeps everything


def test_tie_broken_shares_count_rows_whose_timestamp_spans_splits() -> None:
    frame = pd.DataFrame({"user_id": [0, 0, 0, 0, 1, 1], "item_id": [1, 2, 3, 4, 1, 2],
                          "timestamp": [1, 2, 2, 3, 2, 2]})
    splits = {"train": frame.iloc[[0, 1, 4]], "valid": frame.iloc[[2, 5]], "test": frame.iloc[[3]]}

    # User 0's time 2 spans train and valid; user 1's time 2 too; user 0's times 1 and 3 are in one split each.
    assert tie_broken_shares(splits) == {"train": 2 / 3, "valid": 1.0, "test": 0.0}

    distinct = random_interactions(3, with_ties=False)
    labels = assign_splits(distinct, SplitMethod.RATIO)
    shares = tie_broken_shares({name: distinct[labels == name] for name in SPLITS})
    assert shares == {name: 0.0 for name in SPLITS}  # distinct timestamps: time alone decides


def test_split_is_a_partition_aligned_to_the_input() -> None:
    frame = random_interactions(7)
    labels = assign_splits(frame, SplitMethod.RATIO)

    assert labels.index.equals(frame.index)
    assert set(labels) == {"train", "valid", "test"}
    pairs = frame.assign(split=labels)
    assert not pairs.duplicated(["user_id", "item_id"]).any()


def test_given_split_samples_validation_from_train_reproducibly() -> None:
    frame = random_interactions(3, with_ties=False)
    frame["source_split"] = np.where(frame["timestamp"] % 4 == 0, "test", "train")
    first = assign_splits(frame, SplitMethod.GIVEN, seed=11)
    again = assign_splits(frame, SplitMethod.GIVEN, seed=11)
    other = assign_splits(frame, SplitMethod.GIVEN, seed=12)

    assert first.equals(again)
    assert not first.equals(other)
    assert (first[frame["source_split"] == "test"] == "test").all()
    for _, user in frame.assign(split=first)[frame["source_split"] == "train"].groupby("user_id"):
        n = len(user)
        expected = holdout_sizes(n, 0.1) if n > 1 else 0
        assert (user["split"] == "valid").sum() == expected


@pytest.mark.parametrize(
    ("name", "train", "valid", "test"),
    [("ml-100k", 80_024, 9_988, 9_988), ("ml-1m", 800_309, 99_950, 99_950),
     ("amazon-beauty-s3rec", 153_776, 22_363, 22_363), ("amazon-scientific-lcrec", 41_858, 8_317, 8_317)],
)
def test_real_split_counts(name: str, train: int, valid: int, test: int) -> None:
    dataset = ingest(shared_dataset(name), IngestConfig(name))
    labels = assign_splits(dataset.interactions, SplitMethod(dataset.source["split"]))

    assert labels.value_counts().to_dict() == {"train": train, "valid": valid, "test": test}


def test_real_gowalla_keeps_the_published_test_set() -> None:
    dataset = ingest(shared_dataset("lightgcn-gowalla"), IngestConfig("lightgcn-gowalla"))
    labels = assign_splits(dataset.interactions, SplitMethod.GIVEN, seed=2025)

    counts = labels.value_counts().to_dict()
    assert counts["test"] == 217_242
    assert counts["train"] + counts["valid"] == 810_128
    # A 10 % per-user sample: between 9 % and 11 % of the given train set.
    assert 0.09 < counts["valid"] / 810_128 < 0.11
