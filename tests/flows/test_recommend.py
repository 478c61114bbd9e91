"""The recommend command serves a checkpoint only with the id maps and SID tables it was trained with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from dqrec.cf.artifacts import write_trained_variants
from dqrec.cli import export, parser
from dqrec.data.artifacts import read_users
from dqrec.layout import Workspace
from flows.recommend import main
from tests.cf.test_artifacts import train_variant, write_inputs


@pytest.fixture()
def workspace(toy, tmp_path: Path) -> Workspace:
    workspace = Workspace(tmp_path)
    write_inputs(workspace, toy)
    train_variant(workspace, toy, "full")
    write_trained_variants(workspace, ["full"])
    return workspace


def test_a_matching_checkpoint_serves_top_k(workspace: Workspace, capsys: pytest.CaptureFixture) -> None:
    table = main(["1", "7", "--k", "3"], workspace)
    assert len(table) == 6 and set(table["user"]) == {"1", "7"}
    assert "variant 'full'" in capsys.readouterr().out


def test_other_sid_tables_are_refused_by_name(workspace: Workspace, toy) -> None:
    sids = toy[4]
    moved = sids.users.copy()
    moved[:, 2] = (moved[:, 2] + 1) % sids.user_codes
    write_inputs(workspace, toy, sids=sids._replace(users=moved))  # the SID stage reran; train did not

    with pytest.raises(SystemExit, match=r"full\.ckpt was trained with other SID tables \(data/sids\) than this "
                                         r"workspace has \(sids: trained on \w+, workspace has \w+\).*dvc repro"):
        main(["1"], workspace)


def test_other_id_maps_are_refused_by_name(workspace: Workspace, toy) -> None:
    items = toy[3].assign(raw_id=lambda frame: "movie-" + frame["raw_id"])  # another catalogue, same size
    write_inputs(workspace, toy, items=items)

    with pytest.raises(SystemExit, match=r"trained with other user and item id maps \(data/ingest\)"):
        main(["1"], workspace)


def test_the_export_writes_every_users_top_k_and_an_index_serves_the_same_users(
        workspace: Workspace, capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    out = tmp_path / "top.parquet"
    arguments = parser().parse_args(["export", "--out", str(out), "--k", "4"])
    assert export(arguments, workspace) == 0

    table = pd.read_parquet(out)
    users = read_users(workspace.ingest_dir)
    assert list(table.columns) == ["user", "rank", "item", "score"]
    assert set(table["user"]) == set(users["raw_id"].astype(str))
    assert table.groupby("user")["rank"].max().eq(4).all()
    assert "variant 'full', exact ranking" in capsys.readouterr().out
    # The approximate index, searching every cell, gives the exact ranking's items.
    approximate = main(["1", "7", "--k", "4", "--index", "ivf", "--n-lists", "1"], workspace)
    exact = table[table["user"].isin(["1", "7"])]
    assert sorted(zip(approximate["user"], approximate["item"].astype(str), strict=True)) == sorted(
        zip(exact["user"], exact["item"], strict=True))


def test_a_bad_index_setting_is_refused_by_name(workspace: Workspace) -> None:
    with pytest.raises(SystemExit, match="n_probe: expected a positive number"):
        main(["1", "--index", "ivf", "--n-probe", "0"], workspace)
