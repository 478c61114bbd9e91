"""Raw files -> validated, canonical tables: dense ids, attribute tokens, duplicates and k-core handled."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from dqrec.data.acquire import sha256_of
from dqrec.data.catalog import DEFAULT_SPLIT_BY_FORMAT, KNOWN_DATASETS, DatasetSpec
from dqrec.data.errors import MAX_PROBLEMS_COLLECTED, DataError, Found, Problem, raise_if_any
from dqrec.data.readers import STANDARD_SIDE_FILES, TEXT_COLUMNS, RawDataset, TimestampKind, read_dataset
from dqrec.data.schemas import (
    ATTRIBUTE_PATTERNS,
    INTERACTIONS_SCHEMA,
    raw_entities_schema,
    raw_interactions_schema,
    validation_problems,
)
from dqrec.data.textfiles import FILE_COLUMN, LINE_COLUMN

log = logging.getLogger(__name__)


class DuplicatePolicy(StrEnum):
    FIRST = "first"  # keep the earliest interaction of each (user, item) pair
    KEEP = "keep"  # keep repeats: sequence models may want them
    ERROR = "error"  # refuse the input, listing every repeat


class MissingSideFilePolicy(StrEnum):
    ERROR = "error"  # refuse: the dataset's format (or its catalogue entry) has this file
    SKIP = "skip"  # go on without that entity kind's attributes, with a warning; listed in the ingest metrics


class UnknownIdPolicy(StrEnum):
    ERROR = "error"  # refuse, naming the file, the first lines and the ids
    DROP = "drop"  # drop those interactions, with a warning (count, examples); counted in the ingest metrics


@dataclass(frozen=True)
class IngestConfig:
    """params.yaml's ``data`` section."""

    dataset: str = "ml-100k"
    kcore: int = 0
    duplicates: DuplicatePolicy = DuplicatePolicy.FIRST
    missing_side_files: MissingSideFilePolicy = MissingSideFilePolicy.ERROR
    unknown_ids: UnknownIdPolicy = UnknownIdPolicy.ERROR


class CanonicalDataset(NamedTuple):
    interactions: pd.DataFrame  # user_id, item_id (dense int64), timestamp, rating, source_split
    users: pd.DataFrame  # user_id, raw_id, one list[int] column per attribute
    items: pd.DataFrame  # item_id, raw_id, text columns (title, description) where known, list[int] attributes
    vocab: dict[str, dict[str, list[str]]]  # "user"/"item" -> attribute -> tokens; token k has id k + 1
    source: dict[str, Any]  # dataset, format, files and checksums, timestamp kind, split protocol
    stats: dict[str, Any]


def spec_for(name: str) -> DatasetSpec | None:
    return KNOWN_DATASETS.get(name)


def ingest(folder: Path, config: IngestConfig) -> CanonicalDataset:
    spec = spec_for(config.dataset)
    raw = read_dataset(folder)
    if spec and raw.format not in spec.formats:
        raise DataError(Problem(str(folder), f"files in the {'/'.join(f.value for f in spec.formats)} format",
                                value=raw.format.value), f"unexpected format for '{spec.name}'")
    log.info("read %d interactions from %s (%s)", len(raw.interactions), folder, raw.format.value)
    if spec and spec.missing_markers:
        raw = _markers_to_missing(raw, spec.missing_markers)
    _validate(raw, spec)
    missing_side_files = _apply_missing_side_file_policy(raw, spec, config.missing_side_files)
    interactions = _typed_interactions(raw.interactions)
    raw_counts = _counts(interactions)
    interactions, unknown = _apply_unknown_id_policy(interactions, raw, config.unknown_ids)
    source_counts = _source_file_counts(interactions)
    interactions, dropped = _apply_duplicate_policy(interactions, config.duplicates)
    interactions, removed = kcore_filter(interactions, config.kcore)
    interactions, user_ids, item_ids = remap_ids(interactions)
    users, user_vocab = _entity_table(raw.users, "user_id", user_ids, raw.multi_valued, spec)
    items, item_vocab = _entity_table(raw.items, "item_id", item_ids, raw.multi_valued, spec)
    interactions = INTERACTIONS_SCHEMA.validate(interactions)
    source = {
        "dataset": config.dataset,
        "format": raw.format.value,
        "timestamp_kind": raw.timestamp_kind.value,
        "split": _default_split(raw, spec),
        "files": {p.name: _file_record(p, spec) for p in raw.files},
    }
    for name, record in source["files"].items():
        if record["matches_published"] is False:
            log.warning("%s differs from the published file (sha256 %s)", name, record["sha256"])
    stats = {
        "dataset": config.dataset,
        "raw": raw_counts,
        **({"source_files": source_counts} if source_counts else {}),
        "missing_side_files": missing_side_files,
        "unknown_ids_dropped": unknown,
        "without_interactions": _entities_without_interactions(raw, user_ids, item_ids),
        "duplicates_dropped": dropped,
        "kcore_removed": removed,
        **_counts(interactions),
        "density": len(interactions) / max(1, len(user_ids) * len(item_ids)),
        "attribute_coverage": {**_coverage(users, "user"), **_coverage(items, "item")},
    }
    vocab = {"user": user_vocab, "item": item_vocab}
    return CanonicalDataset(interactions, users, items, vocab, source, stats)


def _validate(raw: RawDataset, spec: DatasetSpec | None) -> None:
    """Run every schema before raising, so one report covers all tables."""
    columns = list(raw.interactions.columns)
    tables = [validation_problems(raw_interactions_schema(columns, spec and spec.rating_range), raw.interactions)]
    patterns = ATTRIBUTE_PATTERNS if spec and spec.check_attributes else None
    for frame, id_column in ((raw.users, "user_id"), (raw.items, "item_id")):
        if frame is not None:
            tables.append(validation_problems(raw_entities_schema(id_column, patterns), frame))
    # A short line also fails the not-empty check of its missing fields: report the line once.
    structural = {(p.file, p.line) for p in raw.problems}
    problems = raw.problems + [p for found in tables for p in found if (p.file, p.line) not in structural]
    total = raw.problems.total + sum(found.total for found in tables)
    raise_if_any(sorted(problems, key=lambda p: (p.file, p.line or 0)), "invalid input data", total)


def _expected_side_files(raw: RawDataset, spec: DatasetSpec | None) -> tuple[str, ...]:
    if spec and spec.side_files is not None:
        return spec.side_files
    return STANDARD_SIDE_FILES.get(raw.format, ())


def _present_side_files(raw: RawDataset) -> set[str]:
    return {kind for kind, frame in (("user", raw.users), ("item", raw.items)) if frame is not None}


def _apply_missing_side_file_policy(raw: RawDataset, spec: DatasetSpec | None, policy: MissingSideFilePolicy
                                    ) -> list[str]:
    """Refuse (or warn of) side files that the dataset should have and its folder lacks; returns their names."""
    missing = [kind for kind in _expected_side_files(raw, spec) if kind not in _present_side_files(raw)]
    owner = f"the {spec.name} dataset" if spec else f"the {raw.format.value} format"
    if missing and policy is MissingSideFilePolicy.ERROR:
        raise DataError([Problem(str(raw.side_files[kind]), f"this {kind} attribute file, which {owner} has "
                                 f"(data.missing_side_files: error; 'skip' goes on without {kind} attributes)",
                                 value="no such file") for kind in missing], "missing side file")
    for kind in missing:
        log.warning("%s: no such file; going on without %s attributes (data.missing_side_files: skip)",
                    raw.side_files[kind], kind)
    return [raw.side_files[kind].name for kind in missing]


class _UnknownIds(NamedTuple):
    key: str  # its name in the ingest metrics
    column: str
    rows: pd.Series  # (interactions,) bool: the rows naming such an id
    knower: str  # the file (or split) that does not know them


def _unknown_id_checks(interactions: pd.DataFrame, raw: RawDataset) -> list[_UnknownIds]:
    """Interactions naming an id that the file they must agree with does not know: a side file's ids, and, where
    the dataset gives its own split, train's users and items for the test rows."""
    checks = []
    for kind, frame in (("user", raw.users), ("item", raw.items)):
        if frame is not None:
            known = pd.to_numeric(frame[f"{kind}_id"]).astype("int64")
            checks.append(_UnknownIds(kind, f"{kind}_id", ~interactions[f"{kind}_id"].isin(known),
                                      raw.side_files[kind].name))
    if "source_split" in interactions:
        train = interactions[interactions["source_split"] == "train"]
        test = interactions["source_split"] == "test"
        for kind in ("user", "item"):
            column = f"{kind}_id"
            checks.append(_UnknownIds(f"test_{kind}", column, test & ~interactions[column].isin(train[column]),
                                      "the train split"))
    return checks


def _apply_unknown_id_policy(interactions: pd.DataFrame, raw: RawDataset, policy: UnknownIdPolicy
                             ) -> tuple[pd.DataFrame, dict[str, int]]:
    """Refuse (or drop, with a warning) interactions naming ids their side file or train split does not know.
    Returns the interactions kept and, per check, how many were dropped."""
    checks = _unknown_id_checks(interactions, raw)
    failing = [check for check in checks if check.rows.any()]
    if failing and policy is UnknownIdPolicy.ERROR:
        problems = Found()
        for check in failing:
            rows = interactions[check.rows].sort_values([FILE_COLUMN, LINE_COLUMN])
            kind = check.column.removesuffix("_id")
            problems.add([Problem(str(r[FILE_COLUMN]), f"{'an' if kind == 'item' else 'a'} {kind} id that "
                                  f"{check.knower} knows (data.unknown_ids: error; 'drop' drops these interactions)",
                                  line=int(r[LINE_COLUMN]), column=check.column, value=str(r[check.column]))
                          for _, r in rows.head(MAX_PROBLEMS_COLLECTED).iterrows()], total=int(check.rows.sum()))
        counts = "; ".join(_described(check, interactions) for check in failing)
        raise DataError(problems, f"unknown ids: {counts}", problems.total)
    for check in failing:
        log.warning("dropped %s (data.unknown_ids: drop); e.g. %s", _described(check, interactions),
                    ", ".join(map(str, interactions.loc[check.rows, check.column].unique()[:5])))
    dropped = np.logical_or.reduce([check.rows.to_numpy() for check in failing]) if failing else None
    kept = interactions if dropped is None else interactions[~dropped]
    if kept.empty:
        raise DataError(Problem(str(raw.files[0]), "some interactions whose ids the side files know",
                                value="none left after dropping unknown ids"), "unknown ids")
    return kept, {check.key: int(check.rows.sum()) for check in checks}


def _described(check: _UnknownIds, interactions: pd.DataFrame) -> str:
    """E.g. "3 interactions in ratings.dat name 2 item ids that movies.dat does not know"."""
    flagged = interactions.loc[check.rows]
    n, ids = len(flagged), flagged[check.column].nunique()
    files = ", ".join(sorted({Path(f).name for f in flagged[FILE_COLUMN].unique()}))
    kind = check.column.removesuffix("_id")
    return (f"{n:,} interaction{'s' if n != 1 else ''} in {files} name{'' if n != 1 else 's'} {ids:,} {kind} "
            f"id{'s' if ids != 1 else ''} that {check.knower} does not know")


def _entities_without_interactions(raw: RawDataset, user_ids: np.ndarray, item_ids: np.ndarray) -> dict[str, int]:
    """Side-file entries no interaction names: left out of the entity tables (ml-1m lists 177 unrated movies)."""
    counts = {}
    for kind, frame, ids in (("user", raw.users, user_ids), ("item", raw.items, item_ids)):
        if frame is not None:
            counts[kind] = int((~pd.to_numeric(frame[f"{kind}_id"]).astype("int64").isin(ids)).sum())
    return counts


def _markers_to_missing(raw: RawDataset, markers: dict[str, tuple[str, ...]]) -> RawDataset:
    def blank(frame: pd.DataFrame | None) -> pd.DataFrame | None:
        if frame is None:
            return None
        present = {c: v for c, v in markers.items() if c in frame}
        return frame.assign(**{c: frame[c].mask(frame[c].isin(v)) for c, v in present.items()})

    return replace(raw, users=blank(raw.users), items=blank(raw.items))


def _typed_interactions(raw: pd.DataFrame) -> pd.DataFrame:
    typed = pd.DataFrame({
        "user_id": raw["user_id"].astype("int64"),
        "item_id": raw["item_id"].astype("int64"),
        "timestamp": pd.to_numeric(raw["timestamp"]).astype("int64"),
        "rating": pd.to_numeric(raw["rating"]).astype("float64") if "rating" in raw else np.nan,
        LINE_COLUMN: raw[LINE_COLUMN].to_numpy(),
        FILE_COLUMN: raw[FILE_COLUMN].to_numpy(),
    })
    if "source_split" in raw:
        typed["source_split"] = raw["source_split"].to_numpy()
    return typed


def _counts(interactions: pd.DataFrame) -> dict[str, int]:
    return {"users": int(interactions["user_id"].nunique()), "items": int(interactions["item_id"].nunique()),
            "interactions": len(interactions)}


def _source_file_counts(interactions: pd.DataFrame) -> dict[str, dict[str, int]]:
    if interactions[FILE_COLUMN].nunique() < 2:
        return {}
    return {Path(f).name: _counts(part) for f, part in interactions.groupby(FILE_COLUMN, sort=True)}


def _apply_duplicate_policy(frame: pd.DataFrame, policy: DuplicatePolicy) -> tuple[pd.DataFrame, int]:
    ordered = frame.sort_values(["user_id", "timestamp", LINE_COLUMN], kind="stable")
    repeated = ordered.duplicated(["user_id", "item_id"], keep="first")
    if policy is DuplicatePolicy.ERROR and repeated.any():
        rows = ordered[repeated].sort_values([FILE_COLUMN, LINE_COLUMN])
        raise DataError([Problem(str(r[FILE_COLUMN]), "each (user_id, item_id) pair once (data.duplicates: "
                                 "error); set data.duplicates to 'first' or 'keep' to accept repeats",
                                 line=int(r[LINE_COLUMN]), column="item_id", value=str(r["item_id"]))
                         for _, r in rows.head(50).iterrows()], "duplicate interactions")
    if policy is DuplicatePolicy.FIRST:
        kept = frame.drop(index=ordered.index[repeated])
        return kept, int(repeated.sum())
    return frame, 0


def kcore_filter(frame: pd.DataFrame, k: int) -> tuple[pd.DataFrame, int]:
    """Drop users and items with fewer than ``k`` interactions until none is left (k <= 1: no-op)."""
    if k <= 1:
        return frame, 0
    kept = frame
    while True:
        user_counts = kept["user_id"].map(kept["user_id"].value_counts())
        item_counts = kept["item_id"].map(kept["item_id"].value_counts())
        enough = (user_counts >= k) & (item_counts >= k)
        if enough.all():
            break
        kept = kept[enough]
    if kept.empty:
        raise DataError(Problem("interactions", f"some users and items with at least {k} interactions",
                                value="nothing left after the k-core filter"), "k-core filter too strict")
    return kept, len(frame) - len(kept)


def remap_ids(frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Dense ids 0..n-1 in numeric order of the raw ids, so sorting by dense item id is sorting by raw id
    (the split protocol's tie-break). Returns the frame and the raw id of each dense id."""
    user_ids = np.sort(frame["user_id"].unique())
    item_ids = np.sort(frame["item_id"].unique())
    remapped = frame.assign(
        user_id=np.searchsorted(user_ids, frame["user_id"].to_numpy()).astype("int64"),
        item_id=np.searchsorted(item_ids, frame["item_id"].to_numpy()).astype("int64"),
    )
    columns = ["user_id", "item_id", "timestamp", "rating"]
    columns += ["source_split"] if "source_split" in frame else []
    remapped = remapped.sort_values(["user_id", "timestamp", "item_id"], kind="stable")[columns]
    return remapped.reset_index(drop=True), user_ids, item_ids


def _entity_table(raw: pd.DataFrame | None, id_column: str, raw_ids: np.ndarray, multi: dict[str, str],
                  spec: DatasetSpec | None) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """One row per dense id, with each attribute as a list of token ids (0 is left for padding)."""
    table = pd.DataFrame({id_column: np.arange(len(raw_ids), dtype="int64"), "raw_id": raw_ids.astype(str)})
    if raw is None:
        return table, {}
    dropped = set(spec.drop_attributes) if spec else set()
    attributes = [c for c in raw.columns
                  if c not in (id_column, *TEXT_COLUMNS, LINE_COLUMN, FILE_COLUMN) and c not in dropped]
    by_raw = raw.set_index(raw[id_column].astype("int64"))
    aligned = by_raw.reindex(raw_ids)
    for text in (c for c in TEXT_COLUMNS if c in raw):
        table[text] = aligned[text].astype(object).where(aligned[text].notna(), None).to_numpy()
    vocab: dict[str, list[str]] = {}
    for attribute in attributes:
        separator = multi.get(attribute)
        tokens = [[] if pd.isna(v) else (str(v).split(separator) if separator else [str(v)])
                  for v in aligned[attribute]]
        tokens = [[t for t in values if t] for values in tokens]
        vocab[attribute] = sorted({t for values in tokens for t in values})
        index = {t: i + 1 for i, t in enumerate(vocab[attribute])}
        table[attribute] = [[index[t] for t in values] for values in tokens]
    return table, vocab


def _coverage(table: pd.DataFrame, kind: str) -> dict[str, float]:
    skip = {"user_id", "item_id", "raw_id", *TEXT_COLUMNS}
    return {f"{kind}.{c}": float(table[c].map(len).gt(0).mean()) for c in table.columns if c not in skip}


def _default_split(raw: RawDataset, spec: DatasetSpec | None) -> str:
    if spec:
        return spec.split
    if raw.format in DEFAULT_SPLIT_BY_FORMAT:
        return DEFAULT_SPLIT_BY_FORMAT[raw.format]
    return "leave_one_out" if raw.timestamp_kind is TimestampKind.ORDINAL else "ratio"


def _file_record(path: Path, spec: DatasetSpec | None) -> dict[str, Any]:
    digest = sha256_of(path)
    published = spec.sha256.get(path.name) if spec else None
    return {"sha256": digest, "matches_published": None if published is None else digest == published}
