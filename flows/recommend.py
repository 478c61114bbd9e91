"""Recommend: the top-K items for given users from a trained variant, each item shown with its semantic ID.

    python -m flows.recommend 1 42 --k 10 --variant full      # the same as: dqrec recommend 1 42 --k 10

Kept for scripts written before the ``dqrec`` command; the logic is ``dqrec.cli.recommend``. A command, not a flow:
it only reads the pipeline's artifacts, so it starts no Prefect server.
"""

from __future__ import annotations

import argparse
import sys

import pandas as pd

from dqrec.cli import add_recommend_arguments, recommend
from dqrec.layout import Workspace


def main(argv: list[str] | None = None, workspace: Workspace | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(prog="python -m flows.recommend", description=__doc__.split("\n")[0])
    add_recommend_arguments(parser)
    return recommend(parser.parse_args(argv), workspace)


if __name__ == "__main__":
    main(sys.argv[1:])
