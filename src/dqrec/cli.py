"""The ``dqrec`` command: what users do with a DQRec workspace (a checkout of this project, where ``dvc.yaml`` is).

    dqrec run                      # bring every artifact up to date (dvc repro inside one Prefect flow), then report
    dqrec run train --force        # one stage (and what it needs), rerun even if nothing changed
    dqrec report                   # the last run's one-screen report, from the metrics files
    dqrec recommend 1 42 --k 10    # top-K items for users, by the dataset's own user ids
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


def recommend(arguments: argparse.Namespace, workspace: Workspace | None = None):  # -> pd.DataFrame
    """Top-K items for the named users from a trained variant, each with its semantic ID; returns the table."""
    import numpy as np

    from dqrec.cf.artifacts import WorkspaceMismatch, check_matches, load_trained, trained_fit_config, trained_variants
    from dqrec.cf.fit import attach_inputs
    from dqrec.cf.recommend import UnknownUsers, dense_user_ids
    from dqrec.cf.recommend import recommend as top_items
    from dqrec.data.artifacts import read_interactions, read_items, read_users
    from dqrec.evaluate.ranking import UserItems
    from dqrec.quantize.sid_tables import item_sid_strings, read_sids

    workspace = workspace or Workspace(find_workspace(Path.cwd()))
    if arguments.k < 1:
        raise SystemExit(f"error: --k must be at least 1, got {arguments.k}")
    try:
        variant = choose_variant(arguments.variant, trained_variants(workspace))
        model = load_trained(workspace, variant)
        # A checkpoint is only meaningful with the id maps and SID tables it was trained with.
        check_matches(workspace, model, ("id_maps", "sids"))
    except (FileNotFoundError, WorkspaceMismatch) as error:
        raise SystemExit(f"error: {error}") from None
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    try:
        wanted = dense_user_ids(arguments.users, users)
    except UnknownUsers as error:
        raise SystemExit(f"error: {error}") from None

    config = trained_fit_config(model)
    history = read_interactions(workspace.ingest_dir)
    attach_inputs(model, history, users, items, read_sids(workspace.sids_dir) if variant != "base" else None, config)
    known = UserItems.from_frame(history, len(users), len(items))
    table = top_items(model, np.asarray(wanted), known, arguments.k)

    table["user"] = users["raw_id"].to_numpy()[table["user_id"]]
    table["item"] = items["raw_id"].to_numpy()[table["item_id"]]
    if "title" in items:
        table["title"] = items["title"].to_numpy()[table["item_id"]]
    table["sid"] = item_sid_strings(workspace.sids_dir).reindex(table["item_id"]).to_numpy()
    shown = table.drop(columns=["user_id", "item_id"])
    print(f"top {arguments.k} of {len(items):,} items, variant '{variant}', known items excluded")
    for raw, rows in shown.groupby("user", sort=False):
        print(f"\nuser {raw} ({known.counts(dense_user_ids([raw], users))[0]} known items)")
        print(rows.drop(columns="user").to_string(index=False, float_format="{:.4f}".format))
    return table


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
