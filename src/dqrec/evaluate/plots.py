"""Evaluation pictures, as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dqrec.io import atomic_file  # noqa: E402


def quintile_bars(reports: dict[str, dict[str, Any]], path: Path) -> None:
    """Recall@20 per user-activity quintile and per item-popularity quintile, one bar per variant."""
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    width = 0.8 / max(1, len(reports))
    for offset, (variant, report) in enumerate(reports.items()):
        for axis, key in zip(axes, ("by_user_activity", "by_item_popularity"), strict=True):
            values = [group["recall@20"] for group in report[key]]
            axis.bar(np.arange(len(values)) + offset * width, values, width, label=variant)
    axes[0].set(title="Users by train activity (0: sparsest fifth)", xlabel="quintile", ylabel="Recall@20")
    axes[1].set(title="Test items by train popularity (0: rarest fifth)", xlabel="quintile", ylabel="Recall@20")
    for axis in axes:
        axis.legend()
    figure.tight_layout()
    with atomic_file(path) as stream:
        figure.savefig(stream, format="png", dpi=100)
    plt.close(figure)
