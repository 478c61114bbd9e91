"""How much a trained checkpoint's test metrics hang on the exact histories its user tower reads.

    python -m benchmarks.history_sensitivity [--variant base] [--drop 0.1] [--seed 0]   # from a workspace root

Scores test, masking train + validation items each time, with the histories the model was trained on (train, or
train + validation if it was refit), with those less a random share ``--drop`` of their interactions, and, for a
model not refit, with train plus as many random items as validation holds and with the evaluate stage's histories
(train + validation). A model that generalises barely moves; one whose user vectors memorised their training
histories loses much of its Recall to a small change.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from dqrec.cf.fit import attach_inputs
from dqrec.data.artifacts import ITEMS, USERS
from flows.common import load_params
from flows.evaluate import attach_test_inputs, score_test
from flows.ingest import INGEST_DIR
from flows.train import fit_config, load_sids, load_trained, train_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="base")
    parser.add_argument("--drop", type=float, default=0.1, help="share of history interactions dropped")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    params = load_params()["train"]
    refit = train_report(args.variant).get("refit", False)
    model = load_trained(args.variant)
    inputs = attach_test_inputs(model, args.variant, params)
    users, items = pd.read_parquet(INGEST_DIR / USERS), pd.read_parquet(INGEST_DIR / ITEMS)
    sids = load_sids() if args.variant != "base" else None
    known = pd.concat([inputs.train, inputs.valid])
    trained_on = known if refit else inputs.train
    generator = np.random.default_rng(args.seed)
    kept = generator.random(len(trained_on)) >= args.drop
    histories = {"trained on": trained_on, f"trained on, {args.drop:.0%} dropped": trained_on[kept]}
    if not refit:
        # As many interactions as validation adds, with random items: does any addition hurt, or these items?
        random_items = inputs.valid.assign(item_id=generator.integers(0, inputs.n_items, len(inputs.valid)))
        histories["train + random items"] = pd.concat([inputs.train, random_items])
        histories["train + validation (as evaluated)"] = known

    print(f"variant '{args.variant}', trained on {'train + validation (refit)' if refit else 'train'}; test:")
    reference = None
    for name, history in histories.items():
        attach_inputs(model, history, users, items, sids, fit_config(params, args.variant))
        report = score_test(model, inputs)
        reference = reference or report
        change = report["recall@20"] / reference["recall@20"] - 1
        print(f"  {name:<34} Recall@20 {report['recall@20']:.4f}  NDCG@20 {report['ndcg@20']:.4f}  "
              f"({change:+.1%} Recall)", flush=True)


if __name__ == "__main__":
    main()
