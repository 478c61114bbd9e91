"""Is the test split drawn like train, and what does a difference cost a model selected on validation?

    python -m benchmarks.popularity_shift [--variant base] [--bias-scales 0,0.5,1,1.5,2]   # from a workspace root

First, for train, validation and test, how popular (in train) the items of their interactions are: the mean and
median number of train interactions per item, and the share of interactions on the most popular 1 % of items; and
the share of their rows that the split's item-id tie-break placed (their user has rows of another split at the same
timestamp; temporal splits only, `nan` for a given split). A split drawn like train has train's profile. Then, for
a trained variant with an item bias (`train.item_bias`), Recall@20 and NDCG@20 on validation (train histories,
train items masked, as training selects) and on test (as the evaluate stage scores it) with the learnt item bias
weighted by each scale at scoring time (training uses 1). Where the two splits' best scales differ, test rewards a
popularity prior that validation cannot see.

A diagnostic only: nothing in the pipeline reads it, and the scale is never chosen on test.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import torch

from dqrec.cf.artifacts import load_trained, trained_fit_config
from dqrec.cf.fit import attach_inputs
from dqrec.cf.model import TwoTowerCF
from dqrec.data.artifacts import read_items, read_source, read_split, read_users
from dqrec.data.split import SplitMethod, tie_broken_shares
from dqrec.evaluate.ranking import UserItems
from dqrec.evaluate.report import HEAD_SHARE, evaluate, popularity_profile
from dqrec.evaluate.scoring import attach_test_inputs
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids


def print_profiles(splits: dict[str, pd.DataFrame], n_items: int, temporal: bool) -> None:
    popularity = np.bincount(splits["train"]["item_id"], minlength=n_items)
    head = f"top {HEAD_SHARE:.0%} share"
    tie_broken = tie_broken_shares(splits) if temporal else dict.fromkeys(splits, float("nan"))
    print(f"{'split':<6} {'interactions':>12} {'mean popularity':>16} {'median':>7} {head:>13} {'tie-broken':>11}")
    for name, frame in splits.items():
        profile = popularity_profile(popularity, frame["item_id"].to_numpy())
        print(f"{name:<6} {len(frame):>12,} {profile['mean_popularity']:>16.1f} {profile['median_popularity']:>7.0f} "
              f"{profile['head_share']:>13.4f} {tie_broken[name]:>11.4f}")


def scale_sweep(model: TwoTowerCF, scales: list[float], known: UserItems, targets: UserItems,
                user_activity: np.ndarray, item_popularity: np.ndarray) -> list[dict]:
    """The report of ``model`` (its inputs attached) at each bias scale; item vectors computed once."""
    with torch.no_grad():
        item_vectors = model.item_vectors(torch.arange(targets.n_items))
    return [evaluate(lambda batch: model.scores(batch, item_vectors, bias_scale=scale), known, targets,  # noqa: B023
                     user_activity, item_popularity) for scale in scales]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="base")
    parser.add_argument("--bias-scales", default="0,0.5,1,1.5,2", help="comma-separated weights of the item bias")
    args = parser.parse_args()
    scales = [float(scale) for scale in args.bias_scales.split(",")]
    workspace = Workspace()
    splits = {name: read_split(workspace.split_dir, name) for name in ("train", "valid", "test")}
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    dataset = read_source(workspace.ingest_dir)["dataset"]
    print(f"{dataset}: the items of each split's interactions, by their popularity in train")
    print_profiles(splits, len(items), temporal=workspace.read_metrics("split")["method"] != SplitMethod.GIVEN)

    model = load_trained(workspace, args.variant)
    config = trained_fit_config(model)
    refit = config.refit
    if model.item_bias is None:
        raise SystemExit(f"variant '{args.variant}' was trained without an item bias (train.item_bias: false); "
                         "there is no bias to scale")

    test = attach_test_inputs(model, workspace)
    test_reports = scale_sweep(model, scales, test.known, test.test, test.user_activity, test.item_popularity)
    if refit:
        print(f"variant '{args.variant}' was refit on train + validation: validation is not shown")
        valid_reports = None
    else:
        train = splits["train"]
        sids = read_sids(workspace.sids_dir) if args.variant != "base" else None
        attach_inputs(model, train, users, items, sids, config)
        valid_reports = scale_sweep(model, scales, UserItems.from_frame(train, len(users), len(items)),
                                    UserItems.from_frame(splits["valid"], len(users), len(items)),
                                    test.user_activity, test.item_popularity)

    print(f"variant '{args.variant}', Recall@20 / NDCG@20 by the item bias's scale (training: 1):")
    for index, scale in enumerate(scales):
        shown = [("valid", valid_reports[index])] if valid_reports else []
        shown.append(("test", test_reports[index]))
        print(f"  scale {scale:<4g} " + "   ".join(f"{name} {report['recall@20']:.4f} / {report['ndcg@20']:.4f}"
                                                 for name, report in shown), flush=True)


if __name__ == "__main__":
    main()
