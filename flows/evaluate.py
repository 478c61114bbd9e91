"""Evaluate stage: full ranking on the test split for each trained variant (train and validation items masked)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.cf.fit import attach_inputs
from dqrec.cf.model import TwoTowerCF
from dqrec.data.artifacts import ITEMS, USERS, read_split
from dqrec.evaluate.plots import quintile_bars
from dqrec.evaluate.ranking import UserItems
from dqrec.evaluate.report import evaluate
from dqrec.io import write_json_atomic
from flows.common import METRICS_DIR, PLOTS_DIR, load_params, run_stage
from flows.ingest import INGEST_DIR
from flows.split import SPLIT_DIR
from flows.train import fit_config, load_sids, load_trained

HEADLINE = ("recall@20", "ndcg@20", "recall@50", "ndcg@50", "hr@20", "coverage@20")


class TestInputs(NamedTuple):
    train: pd.DataFrame
    valid: pd.DataFrame
    known: UserItems  # train and validation pairs: masked in the ranking
    test: UserItems
    user_activity: np.ndarray  # (U,) train interactions per user
    item_popularity: np.ndarray  # (I,) train interactions per item

    @property
    def n_items(self) -> int:
        return self.test.n_items


def attach_test_inputs(model: TwoTowerCF, variant: str, params: dict) -> TestInputs:
    """Give a trained model its inputs for scoring test: a user's history is everything known before it, train
    and validation, never test."""
    train, valid, test = (read_split(SPLIT_DIR, s) for s in ("train", "valid", "test"))
    users, items = pd.read_parquet(INGEST_DIR / USERS), pd.read_parquet(INGEST_DIR / ITEMS)
    known = pd.concat([train, valid])
    attach_inputs(model, known, users, items, load_sids() if variant != "base" else None, fit_config(params, variant))
    return TestInputs(train, valid, UserItems.from_frame(known, len(users), len(items)),
                      UserItems.from_frame(test, len(users), len(items)),
                      np.bincount(train["user_id"], minlength=len(users)),
                      np.bincount(train["item_id"], minlength=len(items)))


def score_test(model: TwoTowerCF, inputs: TestInputs) -> dict:
    """Full-ranking test metrics of a model whose inputs are attached, train and validation items masked."""
    with torch.no_grad():
        item_vectors = model.item_vectors(torch.arange(inputs.n_items))
        return evaluate(lambda batch: model.scores(batch, item_vectors), inputs.known, inputs.test,
                        inputs.user_activity, inputs.item_popularity)


@task(cache_policy=NO_CACHE)
def evaluate_variant(variant: str, params: dict) -> dict:
    model = load_trained(variant)
    return score_test(model, attach_test_inputs(model, variant, params))


@flow(name="evaluate", log_prints=True)
def evaluate_flow() -> dict:
    params = load_params()["train"]
    reports = {variant: evaluate_variant(variant, params) for variant in params["variants"]}
    metrics = dict(reports)
    if {"base", "full"} <= set(reports):
        metrics["full_vs_base"] = {
            key: reports["full"][key] - reports["base"][key] for key in HEADLINE
        } | {"sparsest_users_recall@20": reports["full"]["by_user_activity"][0]["recall@20"]
             - reports["base"]["by_user_activity"][0]["recall@20"]}
    write_json_atomic(METRICS_DIR / "evaluate.json", metrics)
    quintile_bars(reports, PLOTS_DIR / "evaluate_quintiles.png")
    logger = get_run_logger()
    for variant, report in reports.items():
        logger.info("%s on test: Recall@20 %.4f, NDCG@20 %.4f (%d users)", variant, report["recall@20"],
                    report["ndcg@20"], report["users"])
    create_table_artifact(key="evaluate-test", description="Full-ranking test metrics per variant",
                          table=[{"variant": v, **{k: r[k] for k in HEADLINE}} for v, r in reports.items()])
    return metrics


if __name__ == "__main__":
    run_stage(evaluate_flow)
