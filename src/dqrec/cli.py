"""The ``dqrec`` command: what users do with a DQRec workspace (a checkout of this project, where ``dvc.yaml`` is).

    dqrec run                      # bring every artifact up to date (dvc repro inside one Prefect flow), then report
    dqrec run train --force        # one stage (and what it needs), rerun even if nothing changed
    dqrec report                   # the last run's one-screen report, from the metrics files
    dqrec recommend 1 42 --k 10    # top-K items for users, by the dataset's own user ids
    dqrec export --k 20 --index ivf   # every user's top-K as Parquet, exact or from an approximate index
    dqrec compare [EXP ...]        # experiments side by side: the params that differ, the headline metrics

Heavy modules are imported inside each subcommand, so ``--help`` answers at once and runs nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

from dqrec.layout import STAGES, Workspace


class NotAWorkspace(SystemExit):
    pass


def find_workspace(start: Path) -> Path:
    """The nearest folder at or above ``start`` that holds the pipeline (``dvc.yaml`` and ``flows/pipeline.py``)."""
    for folder in (start, *start.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "flows" / "pipeline.py").is_file():
            return folder
    raise NotAWorkspace(f"error: {start} is not inside a DQRec workspace (no dvc.yaml with flows/pipeline.py here "
                        "or above); run dqrec from your checkout of the project")


def run(arguments: argparse.Namespace) -> int:
    unknown = [stage for stage in arguments.stages if stage not in STAGES]
    if unknown:
        raise SystemExit(f"error: no stage {', '.join(unknown)}; the stages are {', '.join(STAGES)}")
    root = find_workspace(Path.cwd())
    command = [sys.executable, "-m", "flows.pipeline", *arguments.stages, *(["--force"] if arguments.force else [])]
    # The flows are the checkout's own modules, not an installed package: they import from the workspace root.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(command, cwd=root, env=env).returncode


def report(arguments: argparse.Namespace) -> int:
    from dqrec.summary import read_stage_runs, render

    workspace = Workspace(find_workspace(Path.cwd()))
    try:
        print(render(workspace, read_stage_runs(workspace.last_run_file)))
    except FileNotFoundError as error:
        raise SystemExit(f"error: {error}") from None
    return 0


def _served(variant: str | None, workspace: Workspace):  # -> (str, dqrec.cf.serving.Served)
    """The variant asked for (or the default one), loaded with its inputs; a clear error where it cannot be."""
    from dqrec.cf.artifacts import WorkspaceMismatch, trained_variants
    from dqrec.cf.serving import load_served

    try:
        variant = choose_variant(variant, trained_variants(workspace))
        return variant, load_served(workspace, variant)
    except (FileNotFoundError, WorkspaceMismatch) as error:
        raise SystemExit(f"error: {error}") from None


def _index_config(arguments: argparse.Namespace):  # -> dqrec.cf.serving.IndexConfig
    from dqrec.cf.serving import IndexConfig, IndexKind

    try:
        return IndexConfig(IndexKind(arguments.index), n_lists=arguments.n_lists, n_probe=arguments.n_probe,
                           ef_search=arguments.ef_search)
    except ValueError as error:
        raise SystemExit(f"error: {error}") from None


def recommend(arguments: argparse.Namespace, workspace: Workspace | None = None):  # -> pd.DataFrame
    """Top-K items for the named users from a trained variant, each with its semantic ID; returns the table."""
    import numpy as np

    from dqrec.cf.recommend import UnknownUsers, dense_user_ids
    from dqrec.cf.recommend import recommend as top_items
    from dqrec.quantize.sid_tables import item_sid_strings

    workspace = workspace or Workspace(find_workspace(Path.cwd()))
    if arguments.k < 1:
        raise SystemExit(f"error: --k must be at least 1, got {arguments.k}")
    index = _index_config(arguments)
    variant, (model, users, items, known) = _served(arguments.variant, workspace)
    try:
        wanted = dense_user_ids(arguments.users, users)
    except UnknownUsers as error:
        raise SystemExit(f"error: {error}") from None
    table = top_items(model, np.asarray(wanted), known, arguments.k, index)

    table["user"] = users["raw_id"].to_numpy()[table["user_id"]]
    table["item"] = items["raw_id"].to_numpy()[table["item_id"]]
    if "title" in items:
        table["title"] = items["title"].to_numpy()[table["item_id"]]
    table["sid"] = item_sid_strings(workspace.sids_dir).reindex(table["item_id"]).to_numpy()
    shown = table.drop(columns=["user_id", "item_id"])
    how = "known items excluded" + ("" if index.kind == "exact" else f", approximate ({index.kind} index)")
    print(f"top {arguments.k} of {len(items):,} items, variant '{variant}', {how}")
    for raw, rows in shown.groupby("user", sort=False):
        print(f"\nuser {raw} ({known.counts(dense_user_ids([raw], users))[0]} known items)")
        print(rows.drop(columns="user").to_string(index=False, float_format="{:.4f}".format))
    return table


def export(arguments: argparse.Namespace, workspace: Workspace | None = None) -> int:
    """Every user's top-K items as one Parquet file (user, rank, item, score: the dataset's own ids)."""
    import logging
    import time

    from dqrec.cf.serving import export_top_items

    workspace = workspace or Workspace(find_workspace(Path.cwd()))
    if arguments.k < 1:
        raise SystemExit(f"error: --k must be at least 1, got {arguments.k}")
    index = _index_config(arguments)
    logging.basicConfig(format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("dqrec").setLevel(logging.INFO)  # progress: one line per chunk of users
    variant, (model, users, items, known) = _served(arguments.variant, workspace)
    start = time.perf_counter()
    rows = export_top_items(model, known, arguments.k, arguments.out, users["raw_id"].to_numpy(),
                            items["raw_id"].to_numpy(), index)
    print(f"wrote {arguments.out}: {rows:,} rows, the top {arguments.k} of {len(items):,} items for "
          f"{len(users):,} users (variant '{variant}', {index.kind.value} ranking, known items excluded) in "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def compare(arguments: argparse.Namespace) -> int:
    """Print the experiments of ``dvc exp show`` (or those named) side by side."""
    import json

    from dqrec.compare import UnknownExperiment, experiments, render, select

    root = find_workspace(Path.cwd())
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json", *(["--all-commits"] if arguments.all else [])]
    shown = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if shown.returncode != 0:
        raise SystemExit(f"error: `dvc exp show --json` exited {shown.returncode}:\n{shown.stderr.strip()}")
    try:
        chosen = select(experiments(json.loads(shown.stdout)), arguments.experiments)
    except UnknownExperiment as error:
        raise SystemExit(f"error: {error}") from None
    print(render(chosen, shutil.get_terminal_size((120, 24)).columns))
    return 0


def _print_recommendations(arguments: argparse.Namespace) -> int:
    recommend(arguments)
    return 0


def choose_variant(requested: str | None, trained: list[str]) -> str:
    if requested is None:
        return "full" if "full" in trained else trained[0]
    if requested not in trained:
        raise SystemExit(f"error: variant '{requested}' was not trained (the train stage wrote {trained}); add it "
                         "to train.variants in params.yaml and run `dqrec run train`")
    return requested


def add_recommend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("users", nargs="+", help="user ids as the dataset spells them")
    parser.add_argument("--k", type=int, default=10, help="items per user (default 10)")
    parser.add_argument("--variant", default=None,
                        help="trained variant to use: base, feature, linkage or full (default: full if trained, "
                             "else the first trained)")
    add_index_arguments(parser)


def add_index_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", choices=["exact", "ivf", "hnsw"], default="exact",
                        help="exact: score every item (default, the evaluation's ranking); ivf or hnsw: an "
                             "approximate faiss index over the item tower, for large catalogues")
    parser.add_argument("--n-lists", type=int, default=0, help="ivf: k-means cells (default 0: 4 √items)")
    parser.add_argument("--n-probe", type=int, default=128, help="ivf: cells searched per user (default 128)")
    parser.add_argument("--ef-search", type=int, default=512, help="hnsw: candidate list per search (default 512)")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dqrec", description="Semantic-ID augmented collaborative filtering: run the "
                                  "pipeline, read its report, recommend. Run it inside your checkout.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_parser = commands.add_parser(
        "run", help="bring the artifacts up to date with params.yaml and the code, then print the report",
        description="Run `dvc repro` inside the dqrec-pipeline Prefect flow, every stage reporting to one Prefect "
                    "server (the one PREFECT_API_URL names, else one started for the run): only stale stages run. "
                    "Then print the report.")
    run_parser.add_argument("stages", nargs="*", metavar="STAGE",
                            help=f"bring only these stages (and what they need) up to date: {', '.join(STAGES)}")
    run_parser.add_argument("--force", action="store_true", help="rerun the stages even if nothing changed")
    run_parser.set_defaults(handler=run)
    report_parser = commands.add_parser(
        "report", help="print the last run's report: full vs base, for whom, SID health, stage times",
        description="Print the one-screen report of the workspace's metrics (test metrics per variant, the paired "
                    "comparison with the baseline overall and for the sparsest user fifth, SID health, stage times). "
                    "`dvc metrics show` lists every metric.")
    report_parser.set_defaults(handler=report)
    recommend_parser = commands.add_parser(
        "recommend", help="top-K items for users from a trained variant, with their semantic IDs",
        description="Top-K items for the named users. Each user's history is everything the dataset records for "
                    "them (train, validation and test: the model serves 'now'), and those items are never "
                    "recommended.")
    add_recommend_arguments(recommend_parser)
    recommend_parser.set_defaults(handler=_print_recommendations)
    export_parser = commands.add_parser(
        "export", help="every user's top-K items as one Parquet file, exact or from an approximate index",
        description="Write every user's top-K items (user, rank, item, score, by the dataset's own ids) to a Parquet "
                    "file, chunk by chunk (memory holds one chunk of users), replacing the file only once complete. "
                    "Histories and exclusions as for `dqrec recommend`.")
    export_parser.add_argument("--out", type=Path, default=Path("recommendations.parquet"),
                               help="the Parquet file to write (default recommendations.parquet)")
    export_parser.add_argument("--k", type=int, default=20, help="items per user (default 20)")
    export_parser.add_argument("--variant", default=None,
                               help="trained variant to use (default: full if trained, else the first trained)")
    add_index_arguments(export_parser)
    export_parser.set_defaults(handler=export)
    compare_parser = commands.add_parser(
        "compare", help="experiments side by side: the params that differ and the headline metrics",
        description="One column per experiment (the workspace, the commit it starts from and that commit's `dvc "
                    "exp` experiments, or those named), one row per param that differs between them, then the "
                    "headline metrics (metrics/headline.json: validation and test NDCG@20, Recall@20, the sparsest "
                    "fifth, full vs base with its paired p).")
    compare_parser.add_argument("experiments", nargs="*", metavar="EXP",
                                help="experiment names or commit prefixes, 'workspace', or a branch (default: all)")
    compare_parser.add_argument("--all", action="store_true",
                                help="experiments of every commit, not only those of HEAD (dvc exp show -A)")
    compare_parser.set_defaults(handler=compare)
    return top


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
