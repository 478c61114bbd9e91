"""Experiments side by side: the params in which they differ and their headline metrics, one column per experiment.

Reads what ``dvc exp show --json`` prints (the workspace, the commit it starts from and that commit's experiments)
and keeps, of each, params.yaml and ``metrics/headline.json``. Rows, not columns, carry the names, so that any
number of params fits the width of a terminal; columns are the experiments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dqrec.configtree import flatten

PARAMS_FILE = "params.yaml"
HEADLINE_FILE = "metrics/headline.json"
NAME_WIDTH = 12
MAX_LABEL_WIDTH = 44  # longer param or metric names are clipped with …


@dataclass(frozen=True)
class Experiment:
    name: str  # the experiment's name, "workspace", or the branch/commit it starts from
    rev: str
    params: dict[str, Any]  # flattened: "train.lr" -> 0.001
    headline: dict[str, Any]  # flattened: "full.ndcg@20" -> 0.1341; empty where the experiment has none (failed)


class UnknownExperiment(ValueError):
    pass


def _experiment(entry: dict[str, Any]) -> Experiment:
    data = entry.get("data") or {}
    params = ((data.get("params") or {}).get(PARAMS_FILE) or {}).get("data") or {}
    headline = ((data.get("metrics") or {}).get(HEADLINE_FILE) or {}).get("data") or {}
    rev = entry.get("rev", "")
    name = entry.get("name") or (rev if rev == "workspace" else rev[:7])
    return Experiment(name, rev, flatten(params), flatten(headline))


def experiments(shown: list[dict[str, Any]]) -> list[Experiment]:
    """Every experiment in ``dvc exp show --json``'s output: the workspace, each baseline commit and its experiments
    (in the order shown)."""
    found = []
    for baseline in shown:
        found.append(_experiment(baseline))
        for group in baseline.get("experiments") or []:
            found.extend(_experiment(entry) for entry in group.get("revs") or [])
    return found


def select(found: list[Experiment], wanted: list[str]) -> list[Experiment]:
    """The experiments named (by name or a prefix of their commit), in the order asked; all where none is named."""
    if not wanted:
        return found
    chosen = []
    for name in wanted:
        matches = [e for e in found if e.name == name] or [e for e in found if len(name) >= 4
                                                             and e.rev.startswith(name)]
        if not matches:
            known = ", ".join(e.name for e in found)
            raise UnknownExperiment(f"no experiment '{name}' (`dvc exp show` lists: {known})")
        chosen.append(matches[0])
    return chosen


def differing_params(chosen: list[Experiment]) -> list[str]:
    keys = sorted({key for e in chosen for key in e.params})
    return [key for key in keys if len({repr(e.params.get(key)) for e in chosen}) > 1]


def _param_cell(value: Any) -> str:
    return "–" if value is None else str(value)  # as params.yaml spells it


def _metric_cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if key.endswith("_change"):
        return f"{value:+.1%}".replace("%", " %")
    if key.endswith("_p"):
        return f"{value:.3f}"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def render(chosen: list[Experiment], width: int = 120) -> str:
    """A table: one column per experiment, a row per differing param, then a row per headline metric; more
    experiments than ``width`` columns hold continue in further tables below (the params compared over all)."""
    params = differing_params(chosen)
    metrics = list(dict.fromkeys(key for e in chosen for key in e.headline))
    label_width = min(MAX_LABEL_WIDTH, 3 + max((len(key) for key in params + metrics), default=0))
    per_table = max(1, (width - label_width) // (NAME_WIDTH + 2))
    return "\n\n".join(_table(chosen[start:start + per_table], params, metrics, label_width)
                        for start in range(0, len(chosen), per_table))


def _table(chosen: list[Experiment], params: list[str], metrics: list[str], label_width: int) -> str:
    names = [_clip(e.name, NAME_WIDTH) for e in chosen]
    header = f"{'':<{label_width}}" + "".join(f"{name:>{NAME_WIDTH + 2}}" for name in names)
    lines = [header.rstrip()]

    def row(label: str, cells: list[str]) -> str:
        return (f"{_clip(label, label_width - 1):<{label_width}}"
                + "".join(f"{_clip(cell, NAME_WIDTH):>{NAME_WIDTH + 2}}" for cell in cells)).rstrip()

    lines.append("params that differ" if params else "params that differ: none")
    lines += [row(f"  {key}", [_param_cell(e.params.get(key)) for e in chosen]) for key in params]
    lines.append("headline (test unless 'valid'; change relative; p paired over users)"
                 if metrics else f"headline: no {HEADLINE_FILE} in these experiments (run the pipeline first)")
    lines += [row(f"  {key}", [_metric_cell(key, e.headline.get(key)) for e in chosen]) for key in metrics]
    return "\n".join(lines)
