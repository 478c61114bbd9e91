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

from dqrec.cf.artifacts import load_trained, trained_fit_config
from dqrec.cf.fit import attach_inputs
from dqrec.data.artifacts import read_items, read_users
from dqrec.evaluate.scoring import attach_test_inputs, score_test
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="base")
    parser.add_argument("--drop", type=float, default=0.1, help="share of history interactions dropped")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    workspace = Workspace()
    model = load_trained(workspace, args.variant)
    config = trained_fit_config(model)
    refit = config.refit
    inputs = attach_test_inputs(model, workspace)
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    sids = read_sids(workspace.sids_dir) if args.variant != "base" else None
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
        attach_inputs(model, history, users, items, sids, config)
        report = score_test(model, inputs)
        reference = reference or report
        change = report["recall@20"] / reference["recall@20"] - 1
        print(f"  {name:<34} Recall@20 {report['recall@20']:.4f}  NDCG@20 {report['ndcg@20']:.4f}  "
              f"({change:+.1%} Recall)", flush=True)


if __name__ == "__main__":
    main()
