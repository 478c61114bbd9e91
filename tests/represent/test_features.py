from __future__ import annotations

import pandas as pd
import pytest
import torch

from dqrec.represent.encoder import EncoderConfig, HistoryEncoder, TwoTowerEncoder
from dqrec.represent.features import TimeOrdered, attribute_bags, in_time_order, user_histories, vocabulary_sizes

TRAIN = pd.DataFrame({"user_id": [0, 0, 0, 0, 1], "item_id": [5, 3, 9, 7, 2], "timestamp": [4, 1, 3, 2, 9]})


def test_histories_keep_the_most_recent_items_in_time_order_left_padded() -> None:
    histories = user_histories(TRAIN, n_users=3, max_length=3)

    # user 0 in time order: 3 (t1), 7 (t2), 9 (t3), 5 (t4); the last three, as id + 1
    assert histories.tolist() == [[8, 10, 6], [0, 0, 3], [0, 0, 0]]


def test_attribute_bags_pad_multi_valued_attributes() -> None:
    items = pd.DataFrame({"item_id": [0, 1], "raw_id": ["a", "b"], "title": ["x", "y"],
                          "genre": [[1, 3], [2]], "year": [[4], []]})
    bags = attribute_bags(items)

    assert sorted(bags) == ["genre", "year"]
    assert bags["genre"].tolist() == [[1, 3], [2, 0]]
    assert bags["year"].tolist() == [[4], [0]]
    assert vocabulary_sizes(bags) == {"genre": 4, "year": 5}


def test_time_ordered_runs_start_where_each_user_begins() -> None:
    sequences = TimeOrdered.of(in_time_order(TRAIN), n_users=3)

    assert sequences.items.tolist() == [4, 8, 10, 6, 3]  # user 0: 3, 7, 9, 5; user 1: 2 (id + 1)
    assert sequences.starts.tolist() == [0, 4, 5]  # user 2 has none: its run is empty


def test_time_ordered_refuses_a_frame_out_of_user_order() -> None:
    with pytest.raises(ValueError, match="in_time_order"):
        TimeOrdered.of(TRAIN, n_users=3)


def test_a_causal_history_holds_only_the_items_before_the_pair() -> None:
    ordered = in_time_order(TRAIN)
    model = TwoTowerEncoder(3, 10, {}, {}, EncoderConfig(dim=4, history_encoder=HistoryEncoder.GRU))
    model.attach_features(user_histories(ordered, 3, max_length=3), {}, {})
    model.attach_sequences(TimeOrdered.of(ordered, 3))
    users, positions = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 2, 3, 4])

    preceding = model.preceding_items(users, positions)

    # position 0 (user 0's first item) has nothing before it; position 3 sees the three before it, not itself;
    # user 1's first pair sees none of user 0's items.
    assert preceding.tolist() == [[0, 0, 0], [0, 4, 8], [4, 8, 10], [0, 0, 0]]
