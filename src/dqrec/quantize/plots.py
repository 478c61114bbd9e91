"""Pictures of the codebooks, as PNG files."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dqrec.io import atomic_file  # noqa: E402


def code_usage_plot(usage: dict[str, np.ndarray], path: Path) -> None:
    """One panel per entity kind: each level's code counts, most used first (a flat line is even use)."""
    figure, axes = plt.subplots(1, len(usage), figsize=(6 * len(usage), 4), squeeze=False)
    for axis, (entity, counts) in zip(axes[0], usage.items(), strict=True):  # counts (L, J)
        for level, row in enumerate(counts):
            axis.plot(np.sort(row)[::-1], label=f"level {level + 1}")
        axis.set(title=f"{entity} codes", xlabel="code rank", ylabel="entities", yscale="log")
        axis.legend()
    figure.tight_layout()
    with atomic_file(path) as stream:
        figure.savefig(stream, format="png", dpi=100)
    plt.close(figure)
