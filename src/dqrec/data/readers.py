"""Readers for the raw formats. Each returns a RawDataset of *string* columns with source lines attached,
so that validation can report every bad value where it stands in the file."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import pandas as pd

from dqrec.data.errors import DataError, Found, Problem
from dqrec.data.textfiles import (
    FILE_COLUMN,
    LINE_COLUMN,
    json_object_entries,
    read_text,
    sequence_frame,
    sequence_lines,
    split_fields,
)


class Format(StrEnum):
    RECBOLE = "recbole"  # <name>.inter / .user / .item with typed headers
    GROUPLENS = "grouplens"  # ratings.dat[.gz], users.dat, movies.dat separated by '::'
    GROUPLENS_100K = "grouplens-100k"  # u.data, u.user, u.item of the original ml-100k archive
    LIGHTGCN = "lightgcn"  # train.txt / test.txt, 'user item item ...'
    S3REC = "s3rec"  # <Name>.txt sequences + <Name>_item2attributes.json
    LCREC = "lcrec"  # <Name>.inter.json {user: [item, ...]} + <Name>.item.json {item: {title, brand, ...}}
    TABLE = "table"  # interactions.csv|parquet [+ users.*, items.*]


class TimestampKind(StrEnum):
    UNIX = "unix"  # seconds since the epoch
    ORDINAL = "ordinal"  # position in a time-ordered sequence
    NONE = "none"  # no time information; the position in the file carries no meaning


@dataclass
class RawDataset:
    """Raw tables as strings. Interactions have user_id, item_id, timestamp and optionally rating and
    source_split; users and items have their id, optionally a title, and attribute columns."""

    format: Format
    interactions: pd.DataFrame
    users: pd.DataFrame | None
    items: pd.DataFrame | None
    timestamp_kind: TimestampKind
    files: list[Path]
    # attribute column -> separator of its values, for multi-valued attributes (genres, categories)
    multi_valued: dict[str, str] = field(default_factory=dict)
    # structural problems found while parsing (short lines, a truncated last line), reported with the
    # schema failures in one report
    problems: Found = field(default_factory=Found)
    # "user" / "item" -> where the reader looked for that side file (present or not), so that a missing one
    # can be named
    side_files: dict[str, Path] = field(default_factory=dict)


RECBOLE_TYPES = ("token", "token_seq", "float", "float_seq")
GROUPLENS_100K_GENRES = [
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western",
]
_YEAR_IN_TITLE = re.compile(r"\s*\((\d{4})\)\s*$")
# GroupLens files are Latin-1; a re-encoded UTF-8 copy reads as well.
LATIN1_OR_UTF8 = ("utf-8", "latin-1")
# Entity columns of free text: kept as strings for text representations, never turned into attribute tokens.
TEXT_COLUMNS = ("title", "description")
LCREC_TEXT_FIELDS = ("title", "description", "brand", "categories")
# The side files a format always ships: a folder of that format without one is missing a file, not a dataset
# without attributes. RecBole atomic files, sequence files and plain tables may come without them (the catalogue
# says which named datasets have them).
STANDARD_SIDE_FILES: dict[Format, tuple[str, ...]] = {
    Format.GROUPLENS: ("user", "item"),
    Format.GROUPLENS_100K: ("user", "item"),
    Format.LCREC: ("item",),
}


def detect_format(folder: Path) -> Format:
    """Recognise a dataset folder's format from the files it holds."""
    names = {p.name for p in folder.iterdir()}
    if any(n.endswith(".inter") for n in names):
        return Format.RECBOLE
    if names & {"ratings.dat", "ratings.dat.gz"}:
        return Format.GROUPLENS
    if "u.data" in names:
        return Format.GROUPLENS_100K
    if {"train.txt", "test.txt"} <= names:
        return Format.LIGHTGCN
    if names & {"interactions.csv", "interactions.parquet"}:
        return Format.TABLE
    if any(n.endswith(".inter.json") for n in names):
        return Format.LCREC
    if any(n.endswith("_item2attributes.json") for n in names) or [n for n in names if n.endswith(".txt")]:
        return Format.S3REC
    raise DataError(
        Problem(
            str(folder),
            "one of: <name>.inter (RecBole); ratings.dat[.gz] (GroupLens); u.data (ml-100k archive); "
            "train.txt + test.txt (LightGCN); <Name>.txt sequences (S3-Rec); <Name>.inter.json (LC-Rec); "
            "interactions.csv|parquet",
            value=", ".join(sorted(names)) or "an empty folder",
        ),
        "unrecognised dataset folder",
    )


def read_dataset(folder: Path, fmt: Format | None = None) -> RawDataset:
    fmt = fmt or detect_format(folder)
    return _READERS[fmt](folder)


# --- RecBole atomic files -------------------------------------------------------------------------------


def _recbole_file(path: Path, required: tuple[str, ...], found: Found
                  ) -> tuple[pd.DataFrame, dict[str, str]]:
    text = read_text(path)
    header, _, body = text.partition("\n")
    names: list[str] = []
    types: dict[str, str] = {}
    problems: list[Problem] = []
    for raw_field in header.rstrip("\r").split("\t"):
        name, colon, kind = raw_field.partition(":")
        if not colon or not name or kind not in RECBOLE_TYPES:
            problems.append(Problem(str(path), f"'name:type' with type one of {', '.join(RECBOLE_TYPES)}",
                                    line=1, value=raw_field))
        names.append(name)
        types[name] = kind
    for name in required:
        if name not in types:
            problems.append(Problem(str(path), f"a column '{name}:token' in the header", line=1, column=name,
                                    value="no such column"))
    if problems:
        raise DataError(problems, "malformed header")
    if not body.strip():
        raise DataError(Problem(str(path), "at least one data row after the header", value="header only"),
                        "empty file")
    return split_fields(path, body.replace("\r\n", "\n"), "\t", names, found, first_line=2), types


def _recbole_entities(path: Path, id_column: str, multi: dict[str, str], found: Found
                      ) -> pd.DataFrame | None:
    if not path.exists():
        return None
    frame, types = _recbole_file(path, (id_column,), found)
    frame = frame.drop(columns=[c for c, t in types.items() if t.startswith("float")])
    for column, kind in types.items():
        if kind == "token_seq" and "title" not in column:
            multi[column] = " "
    titles = [c for c in frame.columns if "title" in c]
    return frame.rename(columns={titles[0]: "title"}) if titles else frame


def read_recbole(folder: Path) -> RawDataset:
    inter_files = sorted(folder.glob("*.inter"))
    path = folder / f"{folder.name}.inter"
    if not path.exists():
        path = inter_files[0]
    found = Found()
    interactions, types = _recbole_file(path, ("user_id", "item_id"), found)
    keep = [c for c in ("user_id", "item_id", "timestamp", "rating") if c in types]
    interactions = interactions[keep + [LINE_COLUMN, FILE_COLUMN]]
    kind = TimestampKind.UNIX
    if "timestamp" not in types:
        interactions["timestamp"] = interactions[LINE_COLUMN].astype(str)
        kind = TimestampKind.NONE
    multi: dict[str, str] = {}
    users = _recbole_entities(path.with_suffix(".user"), "user_id", multi, found)
    items = _recbole_entities(path.with_suffix(".item"), "item_id", multi, found)
    side_files = {"user": path.with_suffix(".user"), "item": path.with_suffix(".item")}
    files = [p for p in (path, *side_files.values()) if p.exists()]
    return RawDataset(Format.RECBOLE, interactions, users, items, kind, files, multi, found, side_files)


# --- GroupLens ------------------------------------------------------------------------------------------


def _title_and_year(items: pd.DataFrame) -> pd.DataFrame:
    year = items["title"].str.extract(_YEAR_IN_TITLE, expand=False)
    items["title"] = items["title"].str.replace(_YEAR_IN_TITLE, "", regex=True)
    items["year"] = year
    return items


def _optional_file(path: Path, sep: str, names: list[str], found: Found, files: list[Path]
                   ) -> pd.DataFrame | None:
    """An attribute file that a dataset may lack: parsed when present, and then counted among its files."""
    if not path.exists():
        return None
    files.append(path)
    return split_fields(path, read_text(path, LATIN1_OR_UTF8), sep, names, found)


def read_grouplens(folder: Path) -> RawDataset:
    ratings = folder / "ratings.dat"
    if not ratings.exists():
        ratings = folder / "ratings.dat.gz"
    found = Found()
    files = [ratings]
    interactions = split_fields(ratings, read_text(ratings), "::", ["user_id", "item_id", "rating", "timestamp"],
                                found)
    users = _optional_file(folder / "users.dat", "::", ["user_id", "gender", "age", "occupation", "zip_code"],
                           found, files)
    items = _optional_file(folder / "movies.dat", "::", ["item_id", "title", "genre"], found, files)
    if items is not None:
        items = _title_and_year(items)
    return RawDataset(Format.GROUPLENS, interactions, users, items, TimestampKind.UNIX, files, {"genre": "|"},
                      found, {"user": folder / "users.dat", "item": folder / "movies.dat"})


def read_grouplens_100k(folder: Path) -> RawDataset:
    path = folder / "u.data"
    found = Found()
    files = [path]
    interactions = split_fields(path, read_text(path), "\t", ["user_id", "item_id", "rating", "timestamp"],
                                found)
    users = _optional_file(folder / "u.user", "|", ["user_id", "age", "gender", "occupation", "zip_code"],
                           found, files)
    flags = [f"is_{g}" for g in GROUPLENS_100K_GENRES]
    raw = _optional_file(folder / "u.item", "|",
                         ["item_id", "title", "release_date", "video_release_date", "url", *flags], found, files)
    items = None
    if raw is not None:
        genre_names = pd.Series(GROUPLENS_100K_GENRES)
        items = _title_and_year(raw[["item_id", "title", LINE_COLUMN, FILE_COLUMN]].copy())
        items["genre"] = [" ".join(genre_names[row == "1"]) for row in raw[flags].to_numpy()]
    return RawDataset(Format.GROUPLENS_100K, interactions, users, items, TimestampKind.UNIX, files,
                      {"genre": " "}, found, {"user": folder / "u.user", "item": folder / "u.item"})


# --- sequence files -------------------------------------------------------------------------------------


def read_lightgcn(folder: Path) -> RawDataset:
    parts = []
    found = Found()
    for split in ("train", "test"):
        path = folder / f"{split}.txt"
        part = sequence_lines(path, read_text(path), found)
        part["source_split"] = split
        parts.append(part)
    interactions = pd.concat(parts, ignore_index=True)
    files = [folder / "train.txt", folder / "test.txt"]
    return RawDataset(Format.LIGHTGCN, interactions, None, None, TimestampKind.NONE, files, {}, found)


def read_s3rec(folder: Path) -> RawDataset:
    attribute_files = sorted(folder.glob("*_item2attributes.json"))
    sequences = [p for p in sorted(folder.glob("*.txt"))]
    if attribute_files:
        stem = attribute_files[0].name.removesuffix("_item2attributes.json")
        sequences = [p for p in sequences if p.stem == stem] or sequences
    path = sequences[0]
    found = Found()
    interactions = sequence_lines(path, read_text(path), found)
    items = None
    files = [path]
    if attribute_files:
        items = _item_attributes_json(attribute_files[0])
        files.append(attribute_files[0])
    side_file = attribute_files[0] if attribute_files else path.with_name(f"{path.stem}_item2attributes.json")
    return RawDataset(Format.S3REC, interactions, None, items, TimestampKind.ORDINAL, files, {"attribute": " "},
                      found, {"item": side_file})


def _item_attributes_json(path: Path) -> pd.DataFrame:
    text = read_text(path)
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(Problem(str(path), "valid JSON", line=err.lineno, value=err.msg), "malformed JSON") from None
    if not isinstance(mapping, dict):
        raise DataError(Problem(str(path), '{"item_id": [attribute_id, ...]}', value=type(mapping).__name__),
                        "malformed JSON")
    bad = [Problem(str(path), "a list of integer attribute ids", column=str(k), value=str(v)[:40])
           for k, v in mapping.items() if not isinstance(v, list) or not all(isinstance(a, int) for a in v)]
    if bad:
        raise DataError(bad, "malformed item attributes")
    return pd.DataFrame(
        {"item_id": list(mapping), "attribute": [" ".join(map(str, v)) for v in mapping.values()],
         LINE_COLUMN: pd.NA, FILE_COLUMN: str(path)}
    )


def read_lcrec(folder: Path) -> RawDataset:
    """LC-Rec / LETTER JSON: ``{"user": [item, ...]}`` in time order, and per item its title, description, brand
    and category path (comma-separated, the root first)."""
    path = sorted(folder.glob("*.inter.json"))[0]
    found = Found()
    interactions = _lcrec_sequences(path, found)
    item_path = path.with_name(path.name.removesuffix(".inter.json") + ".item.json")
    items = _lcrec_items(item_path, found) if item_path.exists() else None
    files = [path] + ([item_path] if items is not None else [])
    return RawDataset(Format.LCREC, interactions, None, items, TimestampKind.ORDINAL, files, {"category": ","},
                      found, {"item": item_path})


def _lcrec_sequences(path: Path, found: Found) -> pd.DataFrame:
    sequences = []
    for user, sequence, line in json_object_entries(path, read_text(path)):
        if not isinstance(sequence, list):
            found.append(Problem(str(path), "a list of item ids", line=line, column="user_id",
                                 value=f"{user}: {str(sequence)[:30]}"))
            continue
        bad = [item for item in sequence if isinstance(item, bool) or not isinstance(item, int)]
        found += (Problem(str(path), "integer item ids", line=line, column="item_id", value=f"{user}: {item!r}")
                  for item in bad)
        sequences.append((user, [str(item) for item in sequence], line))
    frame = sequence_frame(path, sequences)
    if frame.empty and not found:
        raise DataError(Problem(str(path), '{"user_id": [item_id, ...]}', value="no interactions"), "empty file")
    return frame


def _lcrec_items(path: Path, found: Found) -> pd.DataFrame:
    rows = []
    for item, record, line in json_object_entries(path, read_text(path)):
        if not isinstance(record, dict):
            found.append(Problem(str(path), f"an object with {', '.join(LCREC_TEXT_FIELDS)}", line=line,
                                 column="item_id", value=f"{item}: {str(record)[:30]}"))
            continue
        fields = {}
        for name in LCREC_TEXT_FIELDS:
            value = record.get(name)
            if value is not None and not isinstance(value, str):
                found.append(Problem(str(path), "a string", line=line, column=name, value=f"{item}: {value!r}"))
                value = None
            fields[name] = (value or "").strip() or None
        # The path's levels are comma-separated, but some level names hold a comma themselves
        # ("Tapes, Adhesives & Sealants"): both halves become tokens, which still name the level.
        categories = [c.strip() for c in (fields.pop("categories") or "").split(",")]
        rows.append({"item_id": item, **fields, "category": ",".join(c for c in categories if c) or None,
                     LINE_COLUMN: line, FILE_COLUMN: str(path)})
    columns = ["item_id", "title", "description", "brand", "category", LINE_COLUMN, FILE_COLUMN]
    return pd.DataFrame(rows, columns=columns)


# --- the user's own tables ------------------------------------------------------------------------------


def _table(path: Path, required: tuple[str, ...], found: Found) -> pd.DataFrame:
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        frame = frame.astype({c: "str" for c in frame.columns}).where(frame.notna(), None)
        frame[LINE_COLUMN] = range(1, len(frame) + 1)
        frame[FILE_COLUMN] = str(path)
        if frame.empty:
            raise DataError(Problem(str(path), "at least one row", value="no rows"), "empty file")
    else:
        text = read_text(path)
        header, _, body = text.partition("\n")
        names = [n.strip() for n in header.rstrip("\r").split(",")]
        if not body.strip():
            raise DataError(Problem(str(path), "at least one data row after the header", value="header only"),
                            "empty file")
        frame = split_fields(path, body.replace("\r\n", "\n"), ",", names, found, first_line=2)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError([Problem(str(path), f"a column named '{c}'", line=1, column=c, value="no such column")
                         for c in missing], "missing column")
    return frame


def _first_existing(folder: Path, stem: str) -> Path | None:
    return next((p for p in (folder / f"{stem}.parquet", folder / f"{stem}.csv") if p.exists()), None)


def read_table(folder: Path) -> RawDataset:
    path = _first_existing(folder, "interactions")
    assert path is not None, "detect_format guarantees an interactions file"
    found = Found()
    interactions = _table(path, ("user_id", "item_id"), found)
    keep = [c for c in ("user_id", "item_id", "timestamp", "rating") if c in interactions.columns]
    interactions = interactions[keep + [LINE_COLUMN, FILE_COLUMN]].copy()
    kind = TimestampKind.UNIX
    if "timestamp" not in interactions.columns:
        interactions["timestamp"] = interactions[LINE_COLUMN].astype(str)
        kind = TimestampKind.NONE
    files = [path]
    entities = {}
    side_files = {}
    multi: dict[str, str] = {}
    for kind_name, stem, id_column in (("user", "users", "user_id"), ("item", "items", "item_id")):
        entity_path = _first_existing(folder, stem)
        side_files[kind_name] = entity_path or folder / f"{stem}{path.suffix}"
        entities[stem] = _table(entity_path, (id_column,), found) if entity_path else None
        if entity_path:
            files.append(entity_path)
            multi.update({c: "|" for c in entities[stem].columns
                          if c not in (id_column, "title", LINE_COLUMN, FILE_COLUMN)})
    return RawDataset(Format.TABLE, interactions, entities["users"], entities["items"], kind, files, multi,
                      found, side_files)


_READERS = {
    Format.RECBOLE: read_recbole,
    Format.GROUPLENS: read_grouplens,
    Format.GROUPLENS_100K: read_grouplens_100k,
    Format.LIGHTGCN: read_lightgcn,
    Format.S3REC: read_s3rec,
    Format.LCREC: read_lcrec,
    Format.TABLE: read_table,
}
