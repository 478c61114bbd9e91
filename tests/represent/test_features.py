from __future__ import annotations

import pandas as pd

from dqrec.represent.features import attribute_bags, user_histories, vocabulary_sizes


def test_histories_keep_the_most_recent_items_in_time_order_left_padded() -> None:
    train = pd.DataFrame({"user_id": [0, 0, 0, 0, 1], "item_id": [5, 3, 9, 7, 2], "timestamp": [4, 1, 3, 2, 9]})
    histories = user_histories(train, n_users=3, max_length=3)

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
