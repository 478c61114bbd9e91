"""Top-K recommendations from a trained two-tower model, for users named by the dataset's own (raw) ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from dqrec.cf.model import TwoTowerCF
from dqrec.evaluate.ranking import UserItems, top_k


class UnknownUsers(LookupError):
    """Some requested user ids are not in the dataset the model was trained on."""

    def __init__(self, unknown: Sequence[str], known: pd.Series) -> None:
        self.unknown = list(unknown)
        examples = ", ".join(known.head(5).astype(str))
        super().__init__(
            f"unknown user id{'s' if len(self.unknown) > 1 else ''} {', '.join(map(repr, self.unknown))}: "
            f"expected the dataset's own user ids ({len(known):,} users, e.g. {examples})")


def dense_user_ids(raw_ids: Sequence[str], users: pd.DataFrame) -> np.ndarray:
    """The model's user ids of ``raw_ids`` (as the dataset spells them), in order; UnknownUsers names the misses."""
    lookup = pd.Series(users["user_id"].to_numpy(), index=users["raw_id"].astype(str))
    requested = [str(raw) for raw in raw_ids]
    unknown = [raw for raw in requested if raw not in lookup.index]
    if unknown:
        raise UnknownUsers(unknown, users["raw_id"])
    return lookup.loc[requested].to_numpy()


@torch.no_grad()
def recommend(model: TwoTowerCF, users: np.ndarray, known: UserItems, k: int) -> pd.DataFrame:
    """The top ``k`` items of each user that ``known`` does not already pair with them, best first.

    Columns: user_id, rank (1-based), item_id, score. A user who knows all but j < k items gets j rows.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, model.n_items)
    item_vectors = model.item_vectors(torch.arange(model.n_items))  # (I, D)
    ranked = top_k(lambda batch: model.scores(batch, item_vectors), users, known, k)  # (U, k)
    # torch.tensor copies: the ids may come from a read-only pandas buffer, which torch.from_numpy warns about.
    scores = model.scores(torch.tensor(users), item_vectors).gather(1, torch.tensor(ranked)).numpy()
    frame = pd.DataFrame({"user_id": np.repeat(users, k), "rank": np.tile(np.arange(1, k + 1), len(users)),
                          "item_id": ranked.ravel(), "score": scores.ravel()})
    already_known = known.contains(users, ranked).ravel()  # only when fewer than k candidates remain
    return frame[~already_known].reset_index(drop=True)
