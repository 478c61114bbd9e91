"""Locating datasets under the data home, and acquiring MovieLens with checksums."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from dqrec.data import acquire
from dqrec.data.acquire import Archive, locate_dataset
from dqrec.data.errors import DataError
from dqrec.data.ingest import IngestConfig, ingest
from tests.conftest import RECBOLE_INTER, write_files


def local_archive(tmp_path: Path) -> tuple[str, str]:
    path = tmp_path / "source" / "tiny.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("tiny/tiny.inter", RECBOLE_INTER)
    return path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_data_home_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(acquire.DATA_HOME_ENV, str(tmp_path))
    write_files(tmp_path / "mine", {"interactions.csv": "user_id,item_id\n1,2\n"})

    assert locate_dataset("mine") == tmp_path / "mine"


def test_acquire_checks_the_sha256_and_installs_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    url, sha256 = local_archive(tmp_path)
    home = tmp_path / "home"
    monkeypatch.setitem(acquire.SOURCES, "tiny", [Archive(url, "0" * 64, {"tiny/tiny.inter": "tiny.inter"})])

    with pytest.raises(DataError) as err:
        locate_dataset("tiny", home)
    assert "sha256" in err.value.report()
    assert list(home.iterdir()) == []  # nothing half-written

    monkeypatch.setitem(acquire.SOURCES, "tiny", [Archive(url, sha256, {"tiny/tiny.inter": "tiny.inter"})])
    folder = locate_dataset("tiny", home)
    assert [p.name for p in folder.iterdir()] == ["tiny.inter"]
    assert ingest(folder, IngestConfig("tiny")).stats["interactions"] == 9


def test_acquire_falls_through_to_the_next_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, sha256 = local_archive(tmp_path)
    unreachable = Archive((tmp_path / "missing.zip").as_uri(), sha256, {})
    monkeypatch.setitem(acquire.SOURCES, "tiny",
                        [unreachable, Archive(url, sha256, {"tiny/tiny.inter": "tiny.inter"})])

    assert (locate_dataset("tiny", tmp_path / "home") / "tiny.inter").exists()


@pytest.mark.network
def test_ml_100k_is_acquired_without_any_local_copy(tmp_path: Path) -> None:
    """With only the package index reachable this takes the recbole wheel; with the web, the GroupLens zip."""
    folder = locate_dataset("ml-100k", tmp_path)
    dataset = ingest(folder, IngestConfig("ml-100k"))

    assert dataset.stats["raw"] == {"users": 943, "items": 1682, "interactions": 100_000}
    assert all(record["matches_published"] for record in dataset.source["files"].values()
               if record["matches_published"] is not None)
