"""Wall time of reading + validating + splitting a dataset (default ml-1m), and pandera's share of it.

    python benchmarks/ingest.py [--dataset ml-1m] [--repeats 3]

Target (issue: foundation): ml-1m in at most 20 s on a 2-core machine. The pandera share is the time spent
inside pandera's validate calls, measured by wrapping them in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandera.pandas as pa

from dqrec.data.acquire import locate_dataset
from dqrec.data.ingest import IngestConfig, ingest
from dqrec.data.split import SplitMethod, assign_splits

TARGET_SECONDS = 20.0


class PanderaTimer:
    """Accumulates the time spent in pandera's DataFrameSchema.validate while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original = pa.DataFrameSchema.validate

    def __enter__(self) -> PanderaTimer:
        original = self._original
        timer = self

        def timed(schema, *args, **kwargs):
            start = time.perf_counter()
            try:
                return original(schema, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        pa.DataFrameSchema.validate = timed
        return self

    def __exit__(self, *exc) -> None:
        pa.DataFrameSchema.validate = self._original


def run_once(folder: Path, name: str) -> tuple[float, float, float]:
    with PanderaTimer() as pandera:
        start = time.perf_counter()
        dataset = ingest(folder, IngestConfig(name))
        ingested = time.perf_counter()
        assign_splits(dataset.interactions, SplitMethod(dataset.source["split"]))
        total = time.perf_counter() - start
    return total, pandera.seconds, total - (ingested - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-1m")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = locate_dataset(args.dataset)
    runs = [run_once(folder, args.dataset) for _ in range(args.repeats)]
    total, pandera, split = (statistics.median(r[i] for r in runs) for i in range(3))
    print(f"dataset: {args.dataset} ({folder})")
    print(f"read + validate + split, median of {args.repeats}: {total:.2f} s "
          f"(target <= {TARGET_SECONDS:.0f} s: {'met' if total <= TARGET_SECONDS else 'MISSED'})")
    print(f"  pandera validation: {pandera:.2f} s = {100 * pandera / total:.1f} % of the total")
    print(f"  split:              {split:.2f} s = {100 * split / total:.1f} % of the total")


if __name__ == "__main__":
    main()
