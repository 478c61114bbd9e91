"""pandera schemas, applied once at load time to the raw string tables and lazily, so one report lists
every failure; the canonical tables the ingest stage writes have schemas of their own."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from dqrec.data.errors import MAX_PROBLEMS_COLLECTED, Found, Problem
from dqrec.data.textfiles import FILE_COLUMN, LINE_COLUMN

NON_NEGATIVE_INTEGER = r"^\d+$"
# RecBole writes timestamps as floats; integral values are accepted in either spelling.
NON_NEGATIVE_INTEGRAL_NUMBER = r"^\d+(\.0*)?$"


def _integer_column(what: str, pattern: str = NON_NEGATIVE_INTEGER) -> pa.Column:
    return pa.Column(str, pa.Check.str_matches(pattern, error=what), nullable=False)


def _rating_check(low: float, high: float) -> pa.Check:
    def rating_within(values: pd.Series) -> pd.Series:
        return pd.to_numeric(values, errors="coerce").between(low, high)

    return pa.Check(rating_within, element_wise=False, error=f"a number in [{low:g}, {high:g}]")


def raw_interactions_schema(columns: list[str], rating_range: tuple[float, float] | None) -> pa.DataFrameSchema:
    schema = {
        "user_id": _integer_column("a non-negative integer user id"),
        "item_id": _integer_column("a non-negative integer item id"),
        "timestamp": _integer_column("a non-negative integer timestamp", NON_NEGATIVE_INTEGRAL_NUMBER),
    }
    if "rating" in columns:
        checks = [_rating_check(*rating_range)] if rating_range else [
            pa.Check(lambda s: pd.to_numeric(s, errors="coerce").notna(), error="a number")]
        schema["rating"] = pa.Column(str, checks, nullable=False)
    return pa.DataFrameSchema(schema, coerce=False, strict=False)


# Attribute values with a documented domain (the MovieLens READMEs); other attributes are free tokens.
ATTRIBUTE_PATTERNS: dict[str, tuple[str, str]] = {
    "gender": (r"^[MF]$", "M or F"),
    "age": (NON_NEGATIVE_INTEGER, "an age (code) as a non-negative integer"),
    "year": (r"^\d{4}$", "a four-digit year"),
    "release_year": (r"^\d{4}$", "a four-digit year"),
}


def raw_entities_schema(id_column: str, attribute_patterns: dict[str, tuple[str, str]] | None = None
                        ) -> pa.DataFrameSchema:
    noun = id_column.removesuffix("_id")
    columns = {id_column: pa.Column(str, pa.Check.str_matches(NON_NEGATIVE_INTEGER,
                                                              error=f"a non-negative integer {noun} id"),
                                    nullable=False, unique=True, report_duplicates="exclude_first")}
    for name, (pattern, what) in (attribute_patterns or {}).items():
        columns[name] = pa.Column(str, pa.Check.str_matches(pattern, error=what), nullable=True, required=False)
    return pa.DataFrameSchema(columns, strict=False)


INTERACTIONS_SCHEMA = pa.DataFrameSchema(
    {
        "user_id": pa.Column("int64", pa.Check.ge(0)),
        "item_id": pa.Column("int64", pa.Check.ge(0)),
        "timestamp": pa.Column("int64", pa.Check.ge(0)),
        "rating": pa.Column("float64", nullable=True),
    },
    strict=False,
    coerce=True,
)


def validation_problems(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> Found:
    """The failures of ``schema`` on ``frame`` (the first few located by the frame's file and line columns, all
    counted)."""
    found = Found()
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as err:
        found.add(_to_problems(err.failure_cases, frame), total=len(err.failure_cases))
    return found


def _to_problems(cases: pd.DataFrame, frame: pd.DataFrame) -> list[Problem]:
    """The first failure cases in file order as located problems (locating each costs a lookup, so only those
    a report can show are located)."""
    order = pd.to_numeric(cases["index"], errors="coerce").fillna(-1)
    cases = cases.iloc[order.argsort(kind="stable")].head(MAX_PROBLEMS_COLLECTED)
    problems = []
    for case in cases.itertuples(index=False):
        column = case.column if isinstance(case.column, str) else None
        index = case.index
        row_known = index is not None and not pd.isna(index) and int(index) in frame.index
        file = str(frame.at[int(index), FILE_COLUMN]) if row_known else str(frame[FILE_COLUMN].iloc[0])
        line = frame.at[int(index), LINE_COLUMN] if row_known else None
        value = None if case.failure_case is None or pd.isna(case.failure_case) else str(case.failure_case)
        expected = _expectation(str(case.check), column)
        if column is None and "column_in_dataframe" in str(case.check):
            column, expected = str(case.failure_case), "this column to be present"
            value = "no such column"
        problems.append(Problem(file, expected, line=None if pd.isna(line) else int(line), column=column,
                                value="a missing value" if value is None and "null" in str(case.check)
                                else value))
    # Report in file order, so the first problem shown is the first in the file.
    return sorted(problems, key=lambda p: (p.file, p.line or 0, p.column or ""))


def _expectation(check: str, column: str | None) -> str:
    if check == "not_nullable":
        return "a value (not empty)"
    if check == "field_uniqueness":
        return f"each {column} to appear once"
    return check
