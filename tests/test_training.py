import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dqrec.training import SPARSE_ABOVE_ROWS, pairs_loader, uses_sparse_embeddings


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
