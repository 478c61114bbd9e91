"""One error type for bad input, carrying every problem found so a user fixes them all in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# A report longer than a screen hides its own first lines; the count of the rest is still given.
MAX_PROBLEMS_SHOWN = 15
# Collecting stops here: a file that is wrong on every line is wrong for one reason, and locating a million
# problems would take minutes to say what the first twenty say.
MAX_PROBLEMS_COLLECTED = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: where it is and what was expected there."""

    file: str
    expected: str
    line: int | None = None
    column: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            # Columnar files have rows, not lines.
            where += f", {'row' if self.file.endswith('.parquet') else 'line'} {self.line}"
        if self.column is not None:
            where += f", column '{self.column}'"
        found = "" if self.value is None else f": found {self.value!r}"
        return f"{where}{found}; expected {self.expected}"


class DataError(ValueError):
    """Input data that cannot be ingested. ``problems`` lists the first failures found (at most
    ``MAX_PROBLEMS_COLLECTED`` from each source), ``total`` counts them all where that was cheap to know."""

    def __init__(self, problems: list[Problem] | Problem, summary: str = "invalid input data",
                 total: int | None = None) -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.summary = summary
        self.total = max(total or 0, len(self.problems))
        # str() is one line, for log records; report() is the full list, for the user.
        super().__init__(f"{summary}: {self.problems[0]}" + (
            f" (and {self.total - 1} more)" if self.total > 1 else ""))

    def report(self) -> str:
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        lines = [f"{self.summary} ({self.total:,} problem{'s' if self.total != 1 else ''}):"]
        lines += [f"  - {p}" for p in shown]
        if self.total > len(shown):
            lines.append(f"  ... and {self.total - len(shown):,} more")
        return "\n".join(lines)


class Found(list[Problem]):
    """Problems as a parser finds them: the first ``MAX_PROBLEMS_COLLECTED`` are kept, every one is counted
    (``total``), so that a file wrong on every line costs no more to refuse than one wrong on twenty."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def append(self, problem: Problem) -> None:
        self.add([problem])

    def __iadd__(self, problems: Iterable[Problem]) -> Found:  # type: ignore[override, misc]
        for problem in problems:
            self.append(problem)
        return self

    def add(self, problems: list[Problem], total: int | None = None) -> None:
        """Keep the first of ``problems`` (in file order) while there is room; count ``total`` (default: all)."""
        self.extend(problems[: max(0, MAX_PROBLEMS_COLLECTED - len(self))])
        self.total += len(problems) if total is None else total


def raise_if_any(problems: list[Problem], summary: str, total: int | None = None) -> None:
    if problems:
        raise DataError(problems, summary, total)
