"""Where raw datasets come from: a data home folder, or, for MovieLens, an acquisition step that fetches a
published archive and checks its sha256 before anything is unpacked."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dqrec.data.catalog import KNOWN_DATASETS
from dqrec.data.errors import DataError, Problem

log = logging.getLogger(__name__)

DATA_HOME_ENV = "DQREC_DATA_HOME"
DEFAULT_DATA_HOME = Path("data/raw")
DOWNLOAD_TIMEOUT_S = 30


def data_home() -> Path:
    return Path(os.environ.get(DATA_HOME_ENV) or DEFAULT_DATA_HOME)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class Archive:
    """A published zip and the members that make up the dataset folder."""

    url: str
    sha256: str
    members: dict[str, str]  # path inside the zip -> file name in the dataset folder


@dataclass(frozen=True)
class Wheel:
    """A wheel on the package index that ships the dataset's files, each with its own checksum."""

    requirement: str
    sha256: str
    members: dict[str, tuple[str, str]]  # path inside the wheel -> (file name, sha256)


_ML100K_IN_RECBOLE = "recbole/dataset_example/ml-100k/"
SOURCES: dict[str, list[Archive | Wheel]] = {
    "ml-100k": [
        Archive(
            "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
            "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            {f"ml-100k/{n}": n for n in ("u.data", "u.user", "u.item", "README")},
        ),
        Wheel(
            "recbole==1.2.1",
            "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
            {
                _ML100K_IN_RECBOLE + name: (name, KNOWN_DATASETS["ml-100k"].sha256[name])
                for name in ("ml-100k.inter", "ml-100k.item", "ml-100k.user")
            },
        ),
    ],
    "ml-1m": [
        Archive(
            "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
            "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
            {f"ml-1m/{n}": n for n in ("ratings.dat", "users.dat", "movies.dat", "README")},
        ),
    ],
}


def locate_dataset(name: str, home: Path | None = None) -> Path:
    """The folder holding dataset ``name``: under the data home, acquiring it first where that is possible."""
    home = home or data_home()
    folder = home / name
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    if name in SOURCES:
        return acquire(name, home)
    known = ", ".join(sorted(KNOWN_DATASETS))
    raise DataError(
        Problem(str(folder), f"a dataset folder (known datasets: {known}; or put your own files in a folder "
                f"of that name; the data home is set by {DATA_HOME_ENV})", value="no such folder"),
        f"unknown dataset '{name}'",
    )


def acquire(name: str, home: Path) -> Path:
    """Fetch dataset ``name`` into ``home/name`` from the first source that answers with the right bytes."""
    failures = []
    for source in SOURCES[name]:
        try:
            return _install(home / name, lambda staging, s=source: _fetch(s, staging))
        except (OSError, subprocess.CalledProcessError, DataError, zipfile.BadZipFile) as err:
            where = source.url if isinstance(source, Archive) else f"the package index ({source.requirement})"
            log.warning("could not acquire %s from %s: %s", name, where, err)
            failures.append(Problem(where, "a reachable source with the published sha256", value=str(err)[:200]))
    raise DataError(failures, f"could not acquire '{name}'; place its files in {home / name} by hand")


def _install(folder: Path, fetch: Callable[[Path], None]) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    try:
        fetch(staging)
        if folder.exists():
            folder.rmdir()  # only an empty folder gets here: locate_dataset uses a non-empty one as it is
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _fetch(source: Archive | Wheel, staging: Path) -> None:
    download = staging / "download"
    download.mkdir()
    if isinstance(source, Archive):
        log.info("downloading %s", source.url)
        archive = download / Path(source.url).name
        with urllib.request.urlopen(source.url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            archive.write_bytes(response.read())
        members = {inner: (name, None) for inner, name in source.members.items()}
    else:
        log.info("downloading %s from the package index (no dependencies)", source.requirement)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", str(download), source.requirement],
            check=True, capture_output=True, text=True, timeout=300,
        )
        archive = next(download.glob("*.whl"))
        members = source.members
    _check_sha256(archive, source.sha256)
    with zipfile.ZipFile(archive) as bundle:
        for inner, (name, expected) in members.items():
            target = staging / name
            target.write_bytes(bundle.read(inner))
            if expected:
                _check_sha256(target, expected)
    shutil.rmtree(download)
    log.info("acquired %s", ", ".join(sorted(p.name for p in staging.iterdir())))


def _check_sha256(path: Path, expected: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(Problem(str(path.name), f"sha256 {expected}", value=actual), "checksum mismatch")
