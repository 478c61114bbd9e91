"""One error type for bad input, carrying every problem found so a user fixes them all in one pass."""

from __future__ import annotations

from dataclasses import dataclass

# A report longer than a screen hides its own first lines; the count of the rest is still given.
MAX_PROBLEMS_SHOWN = 15


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
    """Input data that cannot be ingested. ``problems`` lists every failure that was found."""

    def __init__(self, problems: list[Problem] | Problem, summary: str = "invalid input data") -> None:
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        self.summary = summary
        # str() is one line, for log records; report() is the full list, for the user.
        super().__init__(f"{summary}: {self.problems[0]}" + (
            f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""))

    def report(self) -> str:
        shown = self.problems[:MAX_PROBLEMS_SHOWN]
        lines = [f"{self.summary} ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}):"]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        return "\n".join(lines)


def raise_if_any(problems: list[Problem], summary: str) -> None:
    if problems:
        raise DataError(problems, summary)
