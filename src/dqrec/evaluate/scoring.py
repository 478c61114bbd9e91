"""Scoring a trained CF checkpoint on the test split: its inputs rebuilt from what the checkpoint says it was
trained with (never from the current params), then full ranking with train and validation items masked."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from dqrec.cf.artifacts import check_matches, trained_fit_config
from dqrec.cf.fit import attach_inputs
from dqrec.cf.model import TwoTowerCF
from dqrec.data.artifacts import read_items, read_split, read_users
from dqrec.evaluate.ranking import UserItems
from dqrec.evaluate.report import FULL_RANKING, EvaluateConfig, Evaluation, evaluate_users
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids


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


def attach_test_inputs(model: TwoTowerCF, workspace: Workspace) -> TestInputs:
    """Give a trained model its inputs for scoring test: a user's history is everything known before it, train
    and validation, never test. The SID tables and the split must be those the model was trained with."""
    check_matches(workspace, model, ("id_maps", "sids", "split"))
    config = trained_fit_config(model)
    train, valid, test = (read_split(workspace.split_dir, s) for s in ("train", "valid", "test"))
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    known = pd.concat([train, valid])
    sids = read_sids(workspace.sids_dir) if (config.model.sid_features or config.model.linkage) else None
    attach_inputs(model, known, users, items, sids, config)
    return TestInputs(train, valid, UserItems.from_frame(known, len(users), len(items)),
                      UserItems.from_frame(test, len(users), len(items)),
                      np.bincount(train["user_id"], minlength=len(users)),
                      np.bincount(train["item_id"], minlength=len(items)))


def score_test(model: TwoTowerCF, inputs: TestInputs, device: torch.device | str = "cpu",
               config: EvaluateConfig = FULL_RANKING) -> dict:
    """Full-ranking test metrics of a model whose inputs are attached, train and validation items masked; the
    scores are computed on ``device`` (the item vectors once, then users in batches)."""
    return score_test_users(model, inputs, device, config).report


def score_test_users(model: TwoTowerCF, inputs: TestInputs, device: torch.device | str = "cpu",
                     config: EvaluateConfig = FULL_RANKING) -> Evaluation:
    """``score_test``'s report and the per-user test metrics behind it (of ``config.max_users`` users sampled
    under ``config.seed``, or all)."""
    model = model.to(device)
    with torch.no_grad():
        item_vectors = model.item_vectors(torch.arange(inputs.n_items, device=model.device))
        return evaluate_users(lambda batch: model.scores(batch, item_vectors), inputs.known, inputs.test,
                              inputs.user_activity, inputs.item_popularity, max_users=config.max_users,
                              seed=config.seed)
