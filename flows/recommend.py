"""Recommend: the top-K items for given users from a trained variant, each item shown with its semantic ID.

    python -m flows.recommend 1 42 --k 10 --variant full

Users are named by the dataset's own ids. Each user's history is everything the dataset records for them (train,
validation and test: the model serves "now"), and those items are never recommended. A command, not a flow: it
only reads the pipeline's artifacts, so it starts no Prefect server.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd

from dqrec.cf.fit import VARIANTS, attach_inputs
from dqrec.cf.recommend import UnknownUsers, dense_user_ids, recommend
from dqrec.data.artifacts import ITEMS, USERS, read_interactions
from dqrec.evaluate.ranking import UserItems
from flows.common import load_params
from flows.ingest import INGEST_DIR
from flows.sids import SIDS_DIR
from flows.train import fit_config, load_sids, load_trained


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flows.recommend", description=__doc__.split("\n")[0])
    parser.add_argument("users", nargs="+", help="user ids as the dataset spells them")
    parser.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    parser.add_argument("--variant", choices=list(VARIANTS), default=None,
                        help="trained variant to use (default: full if trained, else the first of train.variants)")
    return parser.parse_args(argv)


def choose_variant(requested: str | None, trained: list[str]) -> str:
    if requested is None:
        return "full" if "full" in trained else trained[0]
    if requested not in trained:
        raise SystemExit(f"error: variant '{requested}' was not trained (train.variants in params.yaml is "
                         f"{trained}); add it there and run `dvc repro train`")
    return requested


def item_sids() -> pd.Series:
    codes = pd.read_parquet(SIDS_DIR / "item.parquet").set_index("item_id").filter(like="c_")
    return codes.astype(str).agg("-".join, axis=1)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    arguments = parse_arguments(argv)
    if arguments.k < 1:
        raise SystemExit(f"error: --k must be at least 1, got {arguments.k}")
    params = load_params()["train"]
    variant = choose_variant(arguments.variant, list(params["variants"]))
    try:
        model = load_trained(variant)
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    users, items = pd.read_parquet(INGEST_DIR / USERS), pd.read_parquet(INGEST_DIR / ITEMS)
    try:
        wanted = dense_user_ids(arguments.users, users)
    except UnknownUsers as error:
        raise SystemExit(f"error: {error}") from None

    history = read_interactions(INGEST_DIR)
    attach_inputs(model, history, users, items, load_sids() if variant != "base" else None,
                  fit_config(params, variant))
    known = UserItems.from_frame(history, len(users), len(items))
    table = recommend(model, np.asarray(wanted), known, arguments.k)

    table["user"] = users["raw_id"].to_numpy()[table["user_id"]]
    table["item"] = items["raw_id"].to_numpy()[table["item_id"]]
    if "title" in items:
        table["title"] = items["title"].to_numpy()[table["item_id"]]
    table["sid"] = item_sids().reindex(table["item_id"]).to_numpy()
    shown = table.drop(columns=["user_id", "item_id"])
    print(f"top {arguments.k} of {len(items):,} items, variant '{variant}', known items excluded")
    for raw, rows in shown.groupby("user", sort=False):
        print(f"\nuser {raw} ({known.counts(dense_user_ids([raw], users))[0]} known items)")
        print(rows.drop(columns="user").to_string(index=False, float_format="{:.4f}".format))
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
