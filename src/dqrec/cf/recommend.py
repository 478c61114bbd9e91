"""Top-K recommendations from a trained two-tower model, for users named by the dataset's own (raw) ids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dqrec.cf.model import TwoTowerCF
from dqrec.cf.serving import EXACT, IndexConfig, top_items
from dqrec.evaluate.ranking import UserItems


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


def recommend(model: TwoTowerCF, users: np.ndarray, known: UserItems, k: int,
              index: IndexConfig = EXACT) -> pd.DataFrame:
    """The top ``k`` items of each user that ``known`` does not already pair with them, best first: exact, or from
    an approximate index (``index.kind``).

    Columns: user_id, rank (1-based), item_id, score. A user who knows all but j < k items gets j rows.
    """
    ranked = top_items(model, users, known, k, index)  # (U, k') each, k' = min(k, items)
    width = ranked.items.shape[1]
    frame = pd.DataFrame({"user_id": np.repeat(users, width), "rank": np.tile(np.arange(1, width + 1), len(users)),
                          "item_id": ranked.items.ravel(), "score": ranked.scores.ravel()})
    return frame[frame["item_id"] >= 0].reset_index(drop=True)
