"""Decoding and tokenising raw text files, turning every low-level failure into a located Problem."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from dqrec.data.errors import MAX_PROBLEMS_COLLECTED, DataError, Found, Problem

LINE_COLUMN = "_line"
FILE_COLUMN = "_file"

_PANDAS_LINE = re.compile(r"line (\d+)")
_WHITESPACE = re.compile(r"\s*")
# Delimiters a wrongly exported file is likely to use instead of the expected one, the longer first ('::' is
# also two ':').
COMMON_DELIMITERS = ("::", "\t", ",", ";", "|", " ")
# Lines looked at to tell the delimiter: enough to see a file-wide habit, few enough to take no time.
SNIFFED_LINES = 5


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it ends in .gz."""
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read()
        except (OSError, EOFError) as err:
            raise DataError(Problem(str(path), "a complete gzip stream", value=str(err)), "corrupt archive") from None
    return path.read_bytes()


def decode(path: Path, raw: bytes, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    """Decode with the first encoding that fits; name the line of the first bad byte when none does."""
    if not raw.strip():
        raise DataError(Problem(str(path), "at least one line of data", value="an empty file"), "empty file")
    first_error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as err:
            first_error = first_error or err
    assert first_error is not None
    line = raw.count(b"\n", 0, first_error.start) + 1
    bad = raw[first_error.start : first_error.start + 4]
    raise DataError(
        Problem(str(path), f"text in {' or '.join(encodings)}", line=line, value=repr(bad)), "wrong encoding"
    )


def read_text(path: Path, encodings: tuple[str, ...] = ("utf-8",)) -> str:
    return decode(path, read_bytes(path), encodings)


def split_fields(
    path: Path, text: str, sep: str, names: list[str], problems: Found, first_line: int = 1
) -> pd.DataFrame:
    """Parse delimiter-separated ``text`` into string columns ``names`` plus the 1-based source line.

    Every line must have exactly ``len(names)`` fields. A long line stops parsing at once; a short line and a
    missing final newline (the marks of a truncated file) are appended to ``problems`` so that one report
    can hold them with the schema failures. Empty fields become missing values for the schemas to report.
    """
    original, shown_sep = text, sep
    if len(names) > 1:
        _refuse_another_delimiter(path, text, sep, len(names), first_line)
    if sep != "\t" and len(sep) > 1:
        # Multi-character separators force pandas' slow python engine; a tab never occurs in these files.
        text = text.replace(sep, "\t")
        sep = "\t"
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=None,
            names=names,
            dtype=str,
            quoting=csv.QUOTE_NONE,
            skip_blank_lines=False,
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except pd.errors.ParserError as err:
        match = _PANDAS_LINE.search(str(err))
        line = int(match.group(1)) + first_line - 1 if match else None
        raise DataError(
            Problem(str(path), f"{len(names)} fields separated by {shown_sep!r}", line=line, value=str(err)),
            "malformed line",
        ) from None
    except pd.errors.EmptyDataError:
        raise DataError(Problem(str(path), "at least one line of data", value="no rows"), "empty file") from None
    frame[LINE_COLUMN] = pd.RangeIndex(first_line, first_line + len(frame))
    frame[FILE_COLUMN] = str(path)
    _add_short_lines(path, frame, names, problems)
    problems += _missing_final_newline(path, original, first_line + len(frame) - 1, names[-1])
    return frame


def _refuse_another_delimiter(path: Path, text: str, sep: str, n_fields: int, first_line: int) -> None:
    """Refuse at once a file whose first lines never hold ``sep`` but all hold another common delimiter: every
    line would otherwise be reported as short, after minutes of parsing and validating."""
    sample = [line for line in text[: 64 * 1024].splitlines()[:SNIFFED_LINES] if line.strip()]
    if not sample or any(sep in line for line in sample):
        return
    found = next((d for d in COMMON_DELIMITERS if d != sep and all(d in line for line in sample)), None)
    seen = f"fields separated by {found!r}" if found else f"no {sep!r}"
    raise DataError(Problem(str(path), f"{n_fields} fields separated by {sep!r} (the first {len(sample)} lines "
                                       f"all hold {seen})", line=first_line, value=sample[0][:60]),
                    f"wrong delimiter: found {found!r} where {sep!r} was expected" if found
                    else f"wrong delimiter: no {sep!r} in the first lines")


def _add_short_lines(path: Path, frame: pd.DataFrame, names: list[str], problems: Found) -> None:
    # pandas pads a short line with missing values; only the last column tells a short line from an empty field.
    last = names[-1]
    short = frame[last].isna() & frame[names[0]].notna()
    if len(names) < 2 or not short.any():
        return
    lines = frame.loc[short, LINE_COLUMN].head(MAX_PROBLEMS_COLLECTED)
    problems.add([Problem(str(path), f"{len(names)} fields ({', '.join(names)})", line=int(line), column=last,
                          value="a line that ends early") for line in lines], total=int(short.sum()))


def _missing_final_newline(path: Path, text: str, last_line: int, last_column: str | None) -> list[Problem]:
    # Every published file ends its last line with a newline; a cut inside the last field leaves a line
    # that still parses, and this is the one mark it leaves.
    if text.endswith("\n"):
        return []
    tail = text[text.rfind("\n") + 1 :]
    return [Problem(str(path), "a newline at the end of the last line (the file looks truncated)",
                    line=last_line, column=last_column, value=tail[-40:])]


def sequence_lines(path: Path, text: str, problems: Found) -> pd.DataFrame:
    """Parse ``user item item ...`` lines into one row per (user, item) with its position in the line.

    The position keeps the file's order, which is the time order in sequence datasets.
    """
    problems += _missing_final_newline(path, text, text.count("\n") + 1, "item_id")
    rows = ((tokens[0], tokens[1:], number) for number, line in enumerate(text.splitlines(), start=1)
            if (tokens := line.split()))
    frame = sequence_frame(path, rows)
    if frame.empty:
        raise DataError(Problem(str(path), "lines of 'user item item ...'", value="no interactions"), "empty file")
    return frame


def sequence_frame(path: Path, sequences: Iterable[tuple[str, list[str], int]]) -> pd.DataFrame:
    """One row per (user, item) of ``(user, items in time order, source line)`` sequences, with the item's
    position in its sequence as the timestamp (string columns, as every reader returns them)."""
    users: list[str] = []
    items: list[str] = []
    positions: list[int] = []
    lines: list[int] = []
    for user, sequence, line in sequences:
        users.extend([user] * len(sequence))
        items.extend(sequence)
        positions.extend(range(len(sequence)))
        lines.extend([line] * len(sequence))
    return pd.DataFrame(
        {"user_id": users, "item_id": items, "timestamp": pd.Series(positions, dtype="int64").astype(str),
         LINE_COLUMN: lines, FILE_COLUMN: str(path)}
    )


def json_object_entries(path: Path, text: str) -> list[tuple[str, Any, int]]:
    """The top-level JSON object of ``text`` as (key, value, line of the key) in file order.

    Parsed entry by entry, so that every value keeps the line it stands on for error reports, and so that a
    repeated key is refused: ``json.loads`` would keep its last value and drop the others without a sign."""
    decoder = json.JSONDecoder()

    def skip(position: int) -> int:
        return _WHITESPACE.match(text, position).end()

    def refuse(position: int, expected: str) -> DataError:
        line = text.count("\n", 0, position) + 1
        return DataError(Problem(str(path), expected, line=line, value=text[position : position + 30] or "the end"),
                         "malformed JSON")

    def value_at(position: int) -> tuple[Any, int]:
        try:
            return decoder.raw_decode(text, position)
        except json.JSONDecodeError as err:
            raise refuse(err.pos, f"a JSON value ({err.msg})") from None

    position = skip(0)
    if not text.startswith("{", position):
        raise refuse(position, "a JSON object {...} at the top level")
    position = skip(position + 1)
    entries: list[tuple[str, Any, int]] = []
    line, counted_to = 1, 0
    empty = text.startswith("}", position)
    while not empty:
        if not text.startswith('"', position):
            raise refuse(position, "a quoted key")
        line += text.count("\n", counted_to, position)
        counted_to = position
        key, position = value_at(position)
        position = skip(position)
        if not text.startswith(":", position):
            raise refuse(position, "':' after the key")
        value, position = value_at(skip(position + 1))
        entries.append((key, value, line))
        position = skip(position)
        if text.startswith(",", position):
            position = skip(position + 1)
        elif text.startswith("}", position):
            break
        else:
            raise refuse(position, "',' or '}' after a value")
    if skip(position + 1) != len(text):
        raise refuse(skip(position + 1), "nothing after the top-level object")
    first_line: dict[str, int] = {}
    repeated = []
    for key, _, line in entries:
        if key in first_line:
            repeated.append(Problem(str(path), f"each key once (first on line {first_line[key]})", line=line,
                                    value=key))
        first_line.setdefault(key, line)
    if repeated:
        raise DataError(repeated[:MAX_PROBLEMS_COLLECTED], "repeated keys", total=len(repeated))
    return entries
