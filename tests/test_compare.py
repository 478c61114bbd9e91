"""Experiments side by side, from what `dvc exp show --json` prints."""

from __future__ import annotations

from typing import Any

import pytest

from dqrec.compare import UnknownExperiment, differing_params, experiments, render, select


def entry(rev: str, name: str | None, lr: float, dim: int, ndcg: float | None) -> dict[str, Any]:
    metrics = {} if ndcg is None else {"metrics/headline.json": {"data": {
        "base": {"ndcg@20": 0.1, "valid_ndcg@20": 0.12},
        "full": {"ndcg@20": ndcg},
        "full_vs_base": {"ndcg@20_change": ndcg / 0.1 - 1, "ndcg@20_p": 0.0231}}},
        "metrics/train.json": {"data": {"base": {"curve": [0.1, 0.2]}}}}
    return {"rev": rev, "name": name, "data": {
        "params": {"params.yaml": {"data": {"train": {"lr": lr, "dim": dim, "variants": ["base", "full"]},
                                            "data": {"dataset": "ml-100k"}}}},
        "metrics": metrics}}


SHOWN = [
    entry("workspace", None, 0.001, 64, 0.11),
    {**entry("a" * 40, "main", 0.001, 64, 0.11), "experiments": [
        {"revs": [entry("b" * 40, "lr-high", 0.01, 64, 0.105)]},
        {"revs": [entry("c" * 40, "dim-128-with-a-long-name", 0.001, 128, 0.12)]},
        {"revs": [entry("d" * 40, "failed", 0.001, 32, None)]},
    ]},
]


def test_every_experiment_is_found_with_its_flattened_params_and_headline() -> None:
    found = experiments(SHOWN)

    assert [e.name for e in found] == ["workspace", "main", "lr-high", "dim-128-with-a-long-name", "failed"]
    assert found[2].params["train.lr"] == 0.01 and found[2].headline["full.ndcg@20"] == 0.105
    assert found[4].headline == {}  # no metrics: shown as such, not dropped


def test_only_the_params_that_differ_between_the_chosen_experiments_are_listed() -> None:
    found = experiments(SHOWN)

    assert differing_params(select(found, ["main", "lr-high"])) == ["train.lr"]
    assert differing_params(select(found, [])) == ["train.dim", "train.lr"]
    assert differing_params(select(found, ["main", "workspace"])) == []


def test_experiments_are_chosen_by_name_or_commit_prefix_and_an_unknown_one_is_refused() -> None:
    found = experiments(SHOWN)

    assert [e.name for e in select(found, ["bbbbbbb", "main"])] == ["lr-high", "main"]
    with pytest.raises(UnknownExperiment, match="no experiment 'nope'.*lr-high"):
        select(found, ["nope"])


def test_three_experiments_fit_in_120_columns_with_params_and_headline_as_rows() -> None:
    table = render(select(experiments(SHOWN), ["main", "lr-high", "dim-128-with-a-long-name"]))
    lines = table.splitlines()

    assert max(len(line) for line in lines) <= 120
    assert lines[0].split() == ["main", "lr-high", "dim-128-wit…"]
    assert "  train.lr" in table and "0.001" in table and "0.01" in table
    change = next(line for line in lines if "ndcg@20_change" in line)
    assert change.split()[1:] == ["+10.0", "%", "+5.0", "%", "+20.0", "%"]
    assert next(line for line in lines if "ndcg@20_p" in line).split()[1:] == ["0.023"] * 3
    assert "curve" not in table  # only the headline file's metrics


def test_an_experiment_without_metrics_shows_dashes() -> None:
    table = render(select(experiments(SHOWN), ["main", "failed"]))

    assert next(line for line in table.splitlines() if "full.ndcg@20" in line).split() == ["full.ndcg@20", "0.1100",
                                                                                         "–"]


def test_more_experiments_than_the_width_holds_continue_in_a_second_table() -> None:
    tables = render(select(experiments(SHOWN), []), width=80).split("\n\n")

    assert len(tables) == 2 and all(max(map(len, t.splitlines())) <= 80 for t in tables)
    assert [t.splitlines()[0].split() for t in tables] == [["workspace", "main", "lr-high"],
                                                           ["dim-128-wit…", "failed"]]
    assert all("train.dim" in t and "train.lr" in t for t in tables)  # params that differ over all of them
