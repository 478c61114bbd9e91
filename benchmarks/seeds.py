"""Variants compared over seeds: mean ± std of test metrics per variant and paired tests over users.

    python -m benchmarks.seeds --dataset ml-100k --seeds 5            # run, save under results/seeds/, print
    python -m benchmarks.seeds --dataset ml-1m --seeds 3 --set train.dim=128 --name ml-1m-dim128
    python -m benchmarks.seeds --summarise results/seeds/ml-100k      # summary.json and table from the saved runs
    python -m benchmarks.seeds --add-run /tmp/dqrec-benchmark-x --name lightgcn-gowalla-patience10
                                                                      # a run finished elsewhere joins as its seed
    python -m benchmarks.seeds --summarise results/seeds/ml-100k-sid-gate --against results/seeds/ml-100k
                                                                      # one variant under two settings
    python -m benchmarks.seeds --dataset ml-1m --seeds 3 --variants full --set pretrain.history_encoder=gru \
        --reuse-base results/seeds/ml-1m-patience10 --name ml-1m-gru  # base's runs taken from a comparison
    python -m benchmarks.seeds --dataset lightgcn-gowalla --seeds 3 --resume --max-new 1
                                                                      # one more seed this sitting, then stop

For each seed s (2025, 2026, ...) the pipeline runs in one fresh workspace with ``pretrain.seed`` and
``train.seed`` set to s (the SIDs depend on pre-training, so both move together); ingest and split run once. Each
run's validation and test metrics, its per-user test metrics and its params are kept in
``results/seeds/<name>/seed-<s>/``. The table: per variant, mean ± std over seeds of validation NDCG@20 (what
selection may look at) and test Recall@20 / NDCG@20; then each variant against the baseline, paired over users
(each user's difference averaged over the seeds, then a paired bootstrap interval and a sign-flip test,
``dqrec.evaluate.paired``), over all users and over the sparsest fifth (by train interactions; summary.json also
pairs NDCG@20 in each fifth, ``by_activity_fifth``); and paired over seeds (each seed's mean metric, base and
variant of one seed paired): how many seeds the variant wins and the sign-flip p over seeds. The users' test holds
the seeds fixed; the seeds' test asks whether another draw of seeds would agree, and with few seeds it cannot go
below 2 / 2^S (0.0625 for 5 seeds).

The baseline reads no SIDs, and each variant is seeded afresh (``seeded_model``), so a seed's base run depends
only on the params that shape the baseline (``tools.results.shapes_the_baseline``: all but the pretrain, svd and
quantize sections, the train keys only SID inputs read, and ``train.variants``). ``--reuse-base FOLDER`` takes
base's runs from a saved comparison whose params agree on all of those, checked key by key, instead of training it
again: a screen of a pre-training, quantisation or SID-fusion setting costs the SID variants only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from benchmarks.pipeline import REPO_ROOT, workspace_copy

from dqrec.evaluate.artifacts import PER_USER, read_per_user, write_per_user
from dqrec.evaluate.paired import PairedComparison, paired_comparison
from dqrec.evaluate.report import quintiles
from dqrec.layout import Workspace
from tools.results import differing_keys, shapes_the_baseline, stated_params

RESULTS = REPO_ROOT / "results" / "seeds"
FIRST_SEED = 2025
METRICS = ("recall@20", "ndcg@20")
BASELINE = "base"


def set_seed(root: Path, seed: int) -> None:
    path = root / "params.yaml"
    params = yaml.safe_load(path.read_text())
    params["pretrain"]["seed"] = params["train"]["seed"] = seed
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def run_seed(root: Path, seed: int, env: dict[str, str], out: Path) -> float:
    """One pipeline run at ``seed`` in workspace ``root``; its results copied to ``out``. Returns seconds."""
    set_seed(root, seed)
    start = time.perf_counter()
    log_path = root / f"seed-{seed}.log"
    print(f"  seed {seed}: every stage's output in {log_path}", flush=True)
    with open(log_path, "w", buffering=1) as log:  # line by line, so that `tail -f` follows a long stage
        process = subprocess.Popen([sys.executable, "-m", "flows.pipeline"], cwd=root, env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for line in process.stdout:
            log.write(line)
            if "Running stage" in line or "on test" in line:
                print(f"  seed {seed} {time.perf_counter() - start:6.0f} s  {line.strip()}", flush=True)
    if process.wait() != 0:
        # The workspace goes when the harness exits: keep the log where the message says it is.
        kept = Path(tempfile.gettempdir()) / f"dqrec-seeds-{out.parent.name}-seed-{seed}.log"
        shutil.copy2(log_path, kept)
        sys.exit(f"seed {seed}: the pipeline failed; its log: {kept}")
    save_run(Workspace(root), out)
    return time.perf_counter() - start


def save_run(workspace: Workspace, out: Path) -> None:
    """Keep what a comparison reads of a finished pipeline run: its metrics, per-user test metrics and params."""
    out.mkdir(parents=True, exist_ok=True)
    for stage in ("train", "evaluate"):
        shutil.copy2(workspace.metrics_file(stage), out / f"{stage}.json")
    shutil.copy2(workspace.evaluate_dir / PER_USER, out / PER_USER)
    shutil.copy2(workspace.params_file, out / "params.yaml")


def add_run(root: Path, out: Path) -> int:
    """Join a pipeline run finished elsewhere (``benchmarks/pipeline.py --keep``, a ``dvc repro``) to the comparison
    at ``out`` as the seed its params state, under the same checks as a seed run here; returns the seed."""
    params = yaml.safe_load((root / "params.yaml").read_text())
    seed = params["pretrain"]["seed"]
    if params["train"]["seed"] != seed:
        raise SystemExit(f"--add-run: {root / 'params.yaml'} has pretrain.seed {seed} and train.seed "
                         f"{params['train']['seed']}; a comparison's runs move both together")
    if (out / f"seed-{seed}").exists():
        raise SystemExit(f"--add-run: {out} already has seed {seed}")
    saved = sorted(out.glob(f"seed-*/{PER_USER}"))
    if not saved:
        raise SystemExit(f"--add-run: {out} has no saved seed to check the run's params against")
    check_same_params(saved[0].parent / "params.yaml", root / "params.yaml")
    stale = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], cwd=root, capture_output=True,
                           text=True)
    if stale.returncode != 0 or json.loads(stale.stdout or "null") != {}:
        raise SystemExit(f"--add-run: {root} is not a finished, up-to-date pipeline run (`dvc status` there: "
                         f"{(stale.stdout or stale.stderr).strip()[:300]})")
    save_run(Workspace(root), out / f"seed-{seed}")
    return seed


def check_same_params(saved: Path, workspace: Path) -> None:
    """Refuse to mix seeds run under other params (seeds aside) into one comparison, naming the keys that differ;
    a key added since a seed was saved counts at the value it states (what the code did before it existed)."""
    def flat(path: Path) -> dict[str, object]:
        params = stated_params(path)
        params.pop("pretrain.seed"), params.pop("train.seed")
        return params

    if differing := differing_keys(flat(workspace), flat(saved)):
        raise SystemExit(f"{saved} was run with other params ({', '.join(differing)}): runs under other params "
                         "belong under another --name")


def base_params(path: Path) -> dict[str, object]:
    """The base-shaping params of a params.yaml, dotted; keys added since it was written at the value they
    stated (``tools.results.stated_params``: what the code did before the key existed)."""
    return {key: value for key, value in stated_params(path).items() if shapes_the_baseline(key)}


def check_same_base(saved: Path, workspace: Path) -> None:
    """Refuse to reuse a base run trained under other base params, naming the keys that differ."""
    if differing := differing_keys(base_params(workspace), base_params(saved)):
        raise SystemExit(f"--reuse-base: {saved} trained base under other params ({', '.join(differing)})")


def merge_base(saved: Path, out: Path) -> None:
    """Put a saved run's base (metrics and per-user rows) into the run at ``out``, base first as trained."""
    for name in ("train.json", "evaluate.json"):
        mine = json.loads((out / name).read_text())
        base = json.loads((saved / name).read_text())[BASELINE]
        (out / name).write_text(json.dumps({BASELINE: base} | mine, indent=2) + "\n")
    frames = [read_per_user(saved).query("variant == @BASELINE"), read_per_user(out)]
    write_per_user(out, {variant: rows.drop(columns="variant") for frame in frames
                         for variant, rows in frame.groupby("variant", sort=False)})


class SeedRuns:
    """The saved runs of one comparison: per seed, validation NDCG@20 per variant and per-user test metrics."""

    def __init__(self, folder: Path) -> None:
        runs = sorted(folder.glob("seed-*"), key=lambda p: int(p.name.split("-")[1]))
        if not runs:
            raise SystemExit(f"{folder}: no seed-*/ runs (run `python -m benchmarks.seeds --dataset ...` first)")
        self.folder = folder
        self.seeds = [int(run.name.split("-")[1]) for run in runs]
        self.validation = [{v: m["val_ndcg@20"] for v, m in json.loads((run / "train.json").read_text()).items()}
                           for run in runs]
        self.per_user = [read_per_user(run) for run in runs]
        self.dataset = yaml.safe_load((runs[0] / "params.yaml").read_text())["data"]["dataset"]
        self.variants = list(self.validation[0])

    def values(self, variant: str, metric: str, users: np.ndarray | None = None,
               seeds: list[int] | None = None) -> np.ndarray:
        """(seeds, users) of one variant's per-user test metric, users in one order for every seed (``seeds``: only
        those, in that order)."""
        rows = []
        frames = self.per_user if seeds is None else [self.per_user[self.seeds.index(s)] for s in seeds]
        for frame in frames:
            series = frame[frame["variant"] == variant].set_index("user_id")[metric]
            rows.append(series.reindex(users if users is not None else series.index).to_numpy())
        return np.stack(rows)

    def activity_fifths(self) -> list[tuple[np.ndarray, int]]:
        """The evaluated users in fifths by train interactions, sparsest first (the same in every seed: one split),
        each with the most train interactions a user of it has."""
        first = self.per_user[0]
        users = first[first["variant"] == self.variants[0]]
        ids, activity = users["user_id"].to_numpy(), users["train_interactions"].to_numpy()
        fifths = quintiles(activity)
        return [(ids[fifths == k], int(activity[fifths == k].max())) for k in np.unique(fifths)]  # none empty


def summary(runs: SeedRuns) -> dict:
    """Mean ± std per variant and every variant against the baseline, paired over users (the table's numbers)."""
    result: dict = {"dataset": runs.dataset, "seeds": runs.seeds, "variants": {}, "against_base": {}}
    first = runs.per_user[0]
    all_users = np.sort(first.loc[first["variant"] == BASELINE, "user_id"].to_numpy())
    for variant in runs.variants:
        valid = np.array([v[variant] for v in runs.validation])
        entry = {"val_ndcg@20": [float(valid.mean()), float(valid.std(ddof=1)) if len(valid) > 1 else 0.0]}
        for metric in METRICS:
            per_seed = runs.values(variant, metric, all_users).mean(1)  # (seeds,)
            entry[metric] = [float(per_seed.mean()), float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0]
        result["variants"][variant] = entry
    fifths = runs.activity_fifths()
    groups = {"all": all_users, "sparsest_fifth": fifths[0][0]}
    for variant in (v for v in runs.variants if v != BASELINE):
        result["against_base"][variant] = {
            group: {metric: paired_comparison(runs.values(BASELINE, metric, users),
                                              runs.values(variant, metric, users))._asdict() for metric in METRICS}
            for group, users in groups.items()}
        seeds = {}
        for metric in METRICS:
            base, mine = (runs.values(v, metric, all_users).mean(1) for v in (BASELINE, variant))  # (seeds,) each
            seeds[metric] = paired_comparison(base, mine)._asdict() | {"wins": int((mine > base).sum()),
                                                                      "per_seed": (mine - base).tolist()}
        result["against_base"][variant]["seeds"] = seeds
        # Where along activity the variant's gain lies: each fifth of users paired, sparsest first.
        result.setdefault("by_activity_fifth", {})[variant] = [
            {"max_train_interactions": most} | paired_comparison(runs.values(BASELINE, "ndcg@20", users),
                                                                 runs.values(variant, "ndcg@20", users))._asdict()
            for users, most in fifths]
    return result


def between(reference: SeedRuns, candidate: SeedRuns, variant: str) -> dict:
    """One variant in two comparisons (two settings), on the seeds both ran: validation NDCG@20 paired over seeds
    (what a choice between the settings may look at), and test paired over users and over seeds (reported)."""
    seeds = [s for s in reference.seeds if s in candidate.seeds]
    if len(seeds) < 2 or variant not in reference.variants or variant not in candidate.variants:
        raise SystemExit(f"--against: both comparisons need variant '{variant}' and at least 2 seeds in common "
                         f"(seeds {reference.seeds} and {candidate.seeds})")
    valid = [np.array([runs.validation[runs.seeds.index(s)][variant] for s in seeds]) for runs in (reference,
                                                                                                    candidate)]
    first = reference.per_user[0]
    users = np.sort(first.loc[first["variant"] == variant, "user_id"].to_numpy())
    result = {"variant": variant, "seeds": seeds, "reference": str(reference.folder),
              "candidate": str(candidate.folder),
              "validation": paired_comparison(*valid)._asdict() | {"wins": int((valid[1] > valid[0]).sum())}}
    for metric in METRICS:
        a, b = (runs.values(variant, metric, users, seeds) for runs in (reference, candidate))  # (seeds, users)
        result[metric] = {"users": paired_comparison(a, b)._asdict(),
                          "seeds": paired_comparison(a.mean(1), b.mean(1))._asdict()}
    return result


def between_table(result: dict) -> str:
    v, n = result["validation"], len(result["seeds"])
    lines = [f"{result['variant']}: {result['candidate']} against {result['reference']}, seeds {result['seeds']}",
             f"  validation NDCG@20 (for choosing)  {v['mean_a']:.4f} -> {v['mean_b']:.4f}  {_cell(v)} over seeds, "
             f"won {v['wins']} of {n}"]
    for metric in METRICS:
        lines.append(f"  test {metric:<9} (reported only)  over users {_cell(result[metric]['users'])}; over seeds "
                     f"{_cell(result[metric]['seeds'])}")
    return "\n".join(lines)


def _cell(test: PairedComparison | dict) -> str:
    t = test if isinstance(test, dict) else test._asdict()
    return (f"{t['relative']:+6.1%} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}] p={t['p_value']:.3f}")


def table(result: dict) -> str:
    seeds = result["seeds"]
    lines = [f"{result['dataset']}: {len(seeds)} seeds ({seeds[0]}-{seeds[-1]}), pretrain.seed = train.seed; "
             "validation-selected checkpoints",
             f"{'variant':<9} {'valid NDCG@20':>17} {'test Recall@20':>17} {'test NDCG@20':>17}"]
    for variant, entry in result["variants"].items():
        lines.append(f"{variant:<9} " + " ".join(f"{entry[k][0]:>8.4f} ± {entry[k][1]:.4f}"
                                                 for k in ("val_ndcg@20", *METRICS)))
    for variant, groups in result["against_base"].items():
        lines.append(f"{variant} vs {BASELINE}, paired (Δ %, 95 % interval of the mean difference, p):")
        for group, tests in groups.items():
            if group == "seeds":
                lines.append(f"  over seeds ({len(seeds)} pairs)".ljust(30) + "   ".join(
                    f"{metric} {_cell(tests[metric])}, won {tests[metric]['wins']} of {len(seeds)}"
                    for metric in METRICS))
                continue
            users = tests[METRICS[0]]["users"]
            lines.append(f"  {group.replace('_', ' ')} ({users} users)".ljust(30)
                         + "   ".join(f"{metric} {_cell(tests[metric])}" for metric in METRICS))
        if fifths := result.get("by_activity_fifth", {}).get(variant):
            lines.append("  ndcg@20 by fifth of users (≤ n train interactions): " + "   ".join(
                f"≤ {fifth['max_train_interactions']} {fifth['relative']:+.1%} p={fifth['p_value']:.3f}"
                for fifth in fifths))
    return "\n".join(lines)


def seeds_to_run(out: Path, seeds: range, max_new: int | None) -> list[int]:
    """The seeds of ``seeds`` that ``out`` holds no saved run of, in order, at most ``max_new`` of them (None: all)."""
    missing = [seed for seed in seeds if not (out / f"seed-{seed}" / PER_USER).exists()]
    return missing if max_new is None else missing[:max_new]


def write_summary(folder: Path) -> str:
    """Recompute ``folder``/summary.json from the runs saved there; returns the printed table."""
    result = summary(SeedRuns(folder))
    (folder / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return table(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds, from 2025 on (default 5)")
    parser.add_argument("--variants", type=lambda text: text.split(","), default=None,
                        help="comma-separated train.variants (default: params.yaml's; base is always added)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one param of the workspace's params.yaml (repeatable)")
    parser.add_argument("--name", default=None, help="folder name under results/seeds/ (default: the dataset)")
    parser.add_argument("--resume", action="store_true",
                        help="the folder exists: keep its saved seeds (their params must equal this run's, seeds "
                             "aside) and run only the missing ones, up to --seeds")
    parser.add_argument("--max-new", type=int, default=None, metavar="N",
                        help="train at most N of the missing seeds in this call, then stop (a comparison longer "
                             "than one sitting: the same command with --resume continues it)")
    parser.add_argument("--reuse-base", type=Path, default=None, metavar="FOLDER",
                        help="take base's runs from FOLDER's seeds (its params that shape the baseline, all but the "
                             "SIDs' own, must equal this run's) and train only --variants")
    parser.add_argument("--summarise", type=Path, default=None, metavar="FOLDER",
                        help="no runs: recompute FOLDER/summary.json from the runs saved there and print the table")
    parser.add_argument("--against", type=Path, default=None, metavar="REFERENCE",
                        help="with --summarise: compare its runs' --variant with REFERENCE's (two settings, the "
                             "seeds both ran) instead")
    parser.add_argument("--variant", default="full", help="with --against: the variant compared (default full)")
    parser.add_argument("--add-run", type=Path, default=None, metavar="WORKSPACE",
                        help="no runs: add a pipeline run finished in WORKSPACE (e.g. by benchmarks/pipeline.py "
                             "--keep with both seeds --set) to --name's comparison as the seed it states")
    args = parser.parse_args()
    if args.add_run is not None:
        out = RESULTS / (args.name or args.dataset)
        seed = add_run(args.add_run, out)
        print(f"seed {seed}: added from {args.add_run}\n" + write_summary(out))
        return
    if args.against is not None:
        if args.summarise is None:
            raise SystemExit("--against compares two saved comparisons: give the other with --summarise")
        print(between_table(between(SeedRuns(args.against), SeedRuns(args.summarise), args.variant)))
        return
    if args.summarise is not None:
        print(write_summary(args.summarise))
        return
    if args.seeds < 2:
        raise SystemExit("--seeds: a comparison over seeds needs at least 2")
    if args.max_new is not None and args.max_new < 1:
        raise SystemExit(f"--max-new: expected at least 1 seed to train, got {args.max_new}")
    others = [v for v in args.variants or [] if v != BASELINE]
    variants = args.variants and [BASELINE] + others
    if args.reuse_base is not None:
        if not others:
            raise SystemExit("--reuse-base: name the variants to train besides base with --variants")
        variants = others
        missing = [s for s in range(FIRST_SEED, FIRST_SEED + args.seeds)
                   if not (args.reuse_base / f"seed-{s}" / PER_USER).exists()]
        if missing:
            raise SystemExit(f"--reuse-base: {args.reuse_base} has no saved run of seeds {missing}")
    out = RESULTS / (args.name or args.dataset)
    if out.exists() and not args.resume:
        raise SystemExit(f"{out} exists: pass another --name, --resume to add the missing seeds, or remove it")
    shared = REPO_ROOT.parent / "shared" / "datasets"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DQREC_DATA_HOME": os.environ.get("DQREC_DATA_HOME", str(shared if shared.is_dir() else "data/raw")),
           "GIT_AUTHOR_NAME": "benchmark", "GIT_AUTHOR_EMAIL": "benchmark@dqrec.invalid",
           "GIT_COMMITTER_NAME": "benchmark", "GIT_COMMITTER_EMAIL": "benchmark@dqrec.invalid"}
    env.pop("PREFECT_API_URL", None)
    root = Path(tempfile.mkdtemp(prefix="dqrec-seeds-"))
    try:
        workspace_copy(root, args.dataset, variants, args.overrides, env)
        if args.reuse_base is not None:  # every seed checked before any trains
            for seed in range(FIRST_SEED, FIRST_SEED + args.seeds):
                set_seed(root, seed)
                check_same_base(args.reuse_base / f"seed-{seed}" / "params.yaml", root / "params.yaml")
        seeds = range(FIRST_SEED, FIRST_SEED + args.seeds)
        to_run = seeds_to_run(out, seeds, args.max_new)
        for seed in seeds:
            if (out / f"seed-{seed}" / PER_USER).exists():
                check_same_params(out / f"seed-{seed}" / "params.yaml", root / "params.yaml")
                print(f"seed {seed}: saved earlier, kept", flush=True)
                continue
            if seed not in to_run:
                continue
            seconds = run_seed(root, seed, env, out / f"seed-{seed}")
            if args.reuse_base is not None:
                merge_base(args.reuse_base / f"seed-{seed}", out / f"seed-{seed}")
                print(f"seed {seed}: base taken from {args.reuse_base / f'seed-{seed}'}", flush=True)
            print(f"seed {seed}: {seconds / 60:.1f} min", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    left = seeds_to_run(out, seeds, None)
    if left:
        print(f"{len(seeds) - len(left)} of {len(seeds)} seeds saved in {out} (--max-new {args.max_new}); the same "
              f"command with --resume runs seeds {left}", flush=True)
    if len(seeds) - len(left) < 2:
        print("a comparison over seeds needs two saved seeds: no summary yet")
        return
    print(write_summary(out))


if __name__ == "__main__":
    main()
