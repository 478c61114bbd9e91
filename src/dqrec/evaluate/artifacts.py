"""The evaluate stage's output beside its metrics: every variant's test metrics per user, so that any two runs can
be compared user by user (``dqrec.evaluate.paired``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dqrec.io import atomic_file

PER_USER = "per_user.parquet"


def write_per_user(evaluate_dir: Path, per_variant: dict[str, pd.DataFrame]) -> None:
    """One row per (variant, evaluated user): variant, user_id, train_interactions, recall@K, ndcg@K."""
    frame = pd.concat([users.assign(variant=variant) for variant, users in per_variant.items()], ignore_index=True)
    columns = ["variant", *[c for c in frame.columns if c != "variant"]]
    with atomic_file(evaluate_dir / PER_USER) as stream:
        frame[columns].to_parquet(stream, index=False)


def read_per_user(evaluate_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(evaluate_dir / PER_USER)
