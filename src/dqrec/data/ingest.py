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
from dqrec.data.errors import DataError, Problem, raise_if_any
from dqrec.data.readers import TEXT_COLUMNS, RawDataset, TimestampKind, read_dataset
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


@dataclass(frozen=True)
class IngestConfig:
    """params.yaml's ``data`` section."""

    dataset: str = "ml-100k"
    kcore: int = 0
    duplicates: DuplicatePolicy = DuplicatePolicy.FIRST


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
    interactions = _typed_interactions(raw.interactions)
    raw_counts = _counts(interactions)
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
    problems = validation_problems(raw_interactions_schema(columns, spec and spec.rating_range),
                                   raw.interactions)
    patterns = ATTRIBUTE_PATTERNS if spec and spec.check_attributes else None
    for frame, id_column in ((raw.users, "user_id"), (raw.items, "item_id")):
        if frame is not None:
            problems += validation_problems(raw_entities_schema(id_column, patterns), frame)
    # A short line also fails the not-empty check of its missing fields: report the line once.
    structural = {(p.file, p.line) for p in raw.problems}
    problems = raw.problems + [p for p in problems if (p.file, p.line) not in structural]
    raise_if_any(sorted(problems, key=lambda p: (p.file, p.line or 0)), "invalid input data")


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
