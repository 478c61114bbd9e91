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

from dqrec.cf.artifacts import WorkspaceMismatch, check_matches, load_trained, trained_fit_config, trained_variants
from dqrec.cf.fit import VARIANTS, attach_inputs
from dqrec.cf.recommend import UnknownUsers, dense_user_ids, recommend
from dqrec.data.artifacts import read_interactions, read_items, read_users
from dqrec.evaluate.ranking import UserItems
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import item_sid_strings, read_sids


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m flows.recommend", description=__doc__.split("\n")[0])
    parser.add_argument("users", nargs="+", help="user ids as the dataset spells them")
    parser.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    parser.add_argument("--variant", choices=list(VARIANTS), default=None,
                        help="trained variant to use (default: full if trained, else the first trained)")
    return parser.parse_args(argv)


def choose_variant(requested: str | None, trained: list[str]) -> str:
    if requested is None:
        return "full" if "full" in trained else trained[0]
    if requested not in trained:
        raise SystemExit(f"error: variant '{requested}' was not trained (the train stage wrote {trained}); add it "
                         "to train.variants in params.yaml and run `dvc repro train`")
    return requested


def main(argv: list[str] | None = None, workspace: Workspace | None = None) -> pd.DataFrame:
    arguments = parse_arguments(argv)
    workspace = workspace or Workspace()
    if arguments.k < 1:
        raise SystemExit(f"error: --k must be at least 1, got {arguments.k}")
    try:
        variant = choose_variant(arguments.variant, trained_variants(workspace))
        model = load_trained(workspace, variant)
        # A checkpoint is only meaningful with the id maps and SID tables it was trained with.
        check_matches(workspace, model, ("id_maps", "sids"))
    except (FileNotFoundError, WorkspaceMismatch) as error:
        raise SystemExit(f"error: {error}") from None
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    try:
        wanted = dense_user_ids(arguments.users, users)
    except UnknownUsers as error:
        raise SystemExit(f"error: {error}") from None

    config = trained_fit_config(model)
    history = read_interactions(workspace.ingest_dir)
    attach_inputs(model, history, users, items, read_sids(workspace.sids_dir) if variant != "base" else None, config)
    known = UserItems.from_frame(history, len(users), len(items))
    table = recommend(model, np.asarray(wanted), known, arguments.k)

    table["user"] = users["raw_id"].to_numpy()[table["user_id"]]
    table["item"] = items["raw_id"].to_numpy()[table["item_id"]]
    if "title" in items:
        table["title"] = items["title"].to_numpy()[table["item_id"]]
    table["sid"] = item_sid_strings(workspace.sids_dir).reindex(table["item_id"]).to_numpy()
    shown = table.drop(columns=["user_id", "item_id"])
    print(f"top {arguments.k} of {len(items):,} items, variant '{variant}', known items excluded")
    for raw, rows in shown.groupby("user", sort=False):
        print(f"\nuser {raw} ({known.counts(dense_user_ids([raw], users))[0]} known items)")
        print(rows.drop(columns="user").to_string(index=False, float_format="{:.4f}".format))
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
