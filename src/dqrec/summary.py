"""The one-screen report of a workspace's last run: does full DQRec beat its baseline, for whom, are the semantic IDs
healthy, and what each stage cost. Built from the metrics files and the per-user test metrics; every number it
prints is in them (``dvc metrics show`` lists them all)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dqrec.evaluate.artifacts import PER_USER, read_per_user
from dqrec.evaluate.paired import PairedComparison, paired_comparison
from dqrec.evaluate.report import quintiles
from dqrec.io import write_json_atomic
from dqrec.layout import STAGES, Workspace

BASELINE = "base"
# The paired test of a single run is a screen; fewer draws than a seeds comparison keep the report instant.
REPORT_DRAWS = 2_000
# Below this p, over users, the report calls a difference a lead rather than a tie.
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class StageRun:
    """One stage in one ``dvc repro``: ``seconds`` it ran, or None when DVC found it up to date."""

    name: str
    seconds: float | None


def write_stage_runs(path: Path, runs: list[StageRun]) -> None:
    write_json_atomic(path, {"stages": [asdict(run) for run in runs]})


def read_stage_runs(path: Path) -> list[StageRun] | None:
    """The stage times a pipeline run left, or None where no run has (the file is local, not versioned)."""
    if not path.exists():
        return None
    return [StageRun(**run) for run in json.loads(path.read_text())["stages"]]


def _signed(value: float) -> str:
    return f"{value:+.1%}".replace("%", " %")


def _paired(per_user: pd.DataFrame, variant: str, metric: str, users: np.ndarray) -> PairedComparison:
    """Variant against the baseline on the same users (per-user test metric, paired sign-flip test)."""
    a, b = (per_user[per_user["variant"] == v].set_index("user_id")[metric].reindex(users).to_numpy()
            for v in (BASELINE, variant))
    return paired_comparison(a, b, draws=REPORT_DRAWS)


def _verdict(variant: str, test: PairedComparison) -> str:
    if test.p_value >= SIGNIFICANCE:
        return f"{variant} and {BASELINE} are level on test NDCG@20 in this run (p {test.p_value:.2f} over users)"
    better = variant if test.difference > 0 else BASELINE
    return f"{better} leads on test NDCG@20 in this run (p {test.p_value:.2f} over users)"


def _relative(new: float, old: float) -> float:
    return (new - old) / old if old else float("nan")


GROUPS = ("all", "sparsest")
COMPARED = ("recall@20", "ndcg@20")


@dataclass(frozen=True)
class Difference:
    """One variant against the baseline on one metric for one user group: relative Δ of the means, and the paired
    test over users where the per-user metrics are at hand."""

    relative: float
    test: PairedComparison | None


def _group_users(per_user: pd.DataFrame | None) -> dict[str, np.ndarray]:
    if per_user is None:
        return {}
    rows = per_user[per_user["variant"] == BASELINE].sort_values("user_id")
    ids = rows["user_id"].to_numpy()
    return {"all": ids, "sparsest": ids[quintiles(rows["train_interactions"].to_numpy()) == 0]}


def differences(evaluate: dict[str, Any], per_user: pd.DataFrame | None,
                variant: str) -> dict[tuple[str, str], Difference]:
    """``variant`` against the baseline for every (group, metric) of :data:`GROUPS` x :data:`COMPARED`."""
    base, mine = evaluate[BASELINE], evaluate[variant]
    means = {"all": (base, mine), "sparsest": (base["by_user_activity"][0], mine["by_user_activity"][0])}
    users = _group_users(per_user)
    return {(group, metric): Difference(
                _relative(means[group][1][metric], means[group][0][metric]),
                _paired(per_user, variant, metric, users[group]) if users else None)
            for group in GROUPS for metric in COMPARED}


def _compared_variants(evaluate: dict[str, Any]) -> list[str]:
    return [v for v in evaluate if v != "full_vs_base"]


def headline(evaluate: dict[str, Any], train: dict[str, Any], per_user: pd.DataFrame | None) -> dict[str, Any]:
    """A handful of numbers per variant (validation NDCG@20 that chose it, test Recall/NDCG@20, the sparsest fifth's
    NDCG@20) and each variant against the baseline (relative Δ NDCG@20 with its paired p, overall and for the
    sparsest fifth): what `dqrec compare` and `dvc exp show` put side by side."""
    variants = _compared_variants(evaluate)
    result: dict[str, Any] = {
        variant: {"valid_ndcg@20": train.get(variant, {}).get("val_ndcg@20"),
                  "recall@20": evaluate[variant]["recall@20"], "ndcg@20": evaluate[variant]["ndcg@20"],
                  "sparsest_ndcg@20": evaluate[variant]["by_user_activity"][0]["ndcg@20"]}
        for variant in variants}
    if BASELINE in variants:
        for variant in (v for v in variants if v != BASELINE):
            found = differences(evaluate, per_user, variant)
            comparison: dict[str, Any] = {}
            for group, prefix in (("all", ""), ("sparsest", "sparsest_")):
                difference = found[group, "ndcg@20"]
                comparison[f"{prefix}ndcg@20_change"] = difference.relative
                if difference.test is not None:
                    comparison[f"{prefix}ndcg@20_p"] = difference.test.p_value
            result[f"{variant}_vs_{BASELINE}"] = comparison
    return result


def results_lines(evaluate: dict[str, Any], train: dict[str, Any], per_user: pd.DataFrame | None) -> list[str]:
    """The test metrics per variant, then each variant against the baseline: Δ % overall and for the sparsest user
    fifth, with the paired p over users where the per-user metrics are at hand."""
    variants = _compared_variants(evaluate)
    lines = [f"{'variant':<9}{'Recall@10':>11}{'Recall@20':>11}{'NDCG@10':>10}{'NDCG@20':>10}"
             f"{'valid NDCG@20':>15}{'best epoch':>12}"]
    for variant in variants:
        r, t = evaluate[variant], train.get(variant, {})
        lines.append(f"{variant:<9}{r['recall@10']:>11.4f}{r['recall@20']:>11.4f}{r['ndcg@10']:>10.4f}"
                     f"{r['ndcg@20']:>10.4f}{t.get('val_ndcg@20', float('nan')):>15.4f}"
                     f"{t.get('best_epoch', '-'):>12}")
    if BASELINE not in variants or len(variants) < 2:
        return lines
    sparse_base = evaluate[BASELINE]["by_user_activity"][0]
    labels = {"all": f"all users ({evaluate[BASELINE]['users']:,})",
              "sparsest": f"sparsest fifth ({sparse_base['users']:,}, ≤ {sparse_base['max_train_interactions']} "
                          "train items)"}
    for variant in (v for v in variants if v != BASELINE):
        found = differences(evaluate, per_user, variant)
        tested = per_user is not None
        lines += ["", f"{variant} vs {BASELINE}, Δ % ("
                      f"{'paired sign-flip p over users' if tested else 'no per-user metrics at hand for a p'}; "
                      "one seed, a screen)",
                  f"{'':<42}{'Recall@20':<20}NDCG@20"]
        for group, label in labels.items():
            cells = []
            for metric in COMPARED:
                difference = found[group, metric]
                cell = _signed(difference.relative)
                if difference.test is not None:
                    cell += f" (p {difference.test.p_value:.2f})"
                cells.append(cell)
            lines.append(f"  {label:<40}{cells[0]:<20}{cells[1]}")
        overall = found["all", "ndcg@20"].test
        if overall is not None:
            lines.append(f"  → {_verdict(variant, overall)}")
    return lines


def sid_lines(sids: dict[str, Any], quantize: dict[str, Any]) -> list[str]:
    lines = []
    for kind, s in sids.items():
        used = "/".join(str(round(u * s["n_codes"])) for u in s["utilisation"])
        over_pq = quantize.get(kind, {}).get("dqvae_over_pq_error")
        pq = f" ({over_pq:.2f} × PQ's)" if over_pq is not None else ""
        lines.append(f"  {kind:<5} L={len(s['utilisation'])}, J={s['n_codes']} · used {used} · "
                     f"{s['unique_ids']:,} distinct SIDs · collisions {s['collision_rate']:.2f} · "
                     f"error {s['relative_error']:.3f}{pq}")
    return lines


def stage_lines(runs: list[StageRun] | None) -> list[str]:
    if runs is None:
        return ["stages: no timings (they come from a pipeline run: `dqrec run`)"]
    ran = [r for r in runs if r.seconds is not None]
    lines = [(f"stages run ({sum(r.seconds for r in ran):.0f} s): "
              + " · ".join(f"{r.name} {r.seconds:.0f} s" for r in ran)) if ran else "stages run: none"]
    if fresh := [r.name for r in runs if r.seconds is None]:
        lines.append(f"stages up to date: {', '.join(fresh)}")
    return lines


def render(workspace: Workspace, runs: list[StageRun] | None = None) -> str:
    """The report of ``workspace`` (its metrics files and per-user test metrics); ``runs``: the stage times of
    the run that produced them, where known."""
    metrics = {stage: workspace.read_metrics(stage) for stage in STAGES if workspace.metrics_file(stage).exists()}
    missing = [stage for stage in ("ingest", "split", "evaluate") if stage not in metrics]
    if missing:
        raise FileNotFoundError(f"{workspace.metrics_dir}: no metrics of {', '.join(missing)} yet; run the pipeline "
                                "first (`dqrec run`)")
    ingest, split = metrics["ingest"], metrics["split"]
    per_user_path = workspace.evaluate_dir / PER_USER
    per_user = read_per_user(workspace.evaluate_dir) if per_user_path.exists() else None
    lines = [f"DQRec on {ingest['dataset']}: {ingest['users']:,} users, {ingest['items']:,} items, "
             f"{ingest['interactions']:,} interactions (train / valid / test "
             f"{split['train']['interactions']:,} / {split['valid']['interactions']:,} / "
             f"{split['test']['interactions']:,})",
             "",
             "Test, full ranking over all items; checkpoints chosen on validation NDCG@20"]
    lines += results_lines(metrics["evaluate"], metrics.get("train", {}), per_user)
    if "sids" in metrics:
        lines += ["", "Semantic IDs (codes used per level; collisions: share of entities whose whole SID is shared)"]
        lines += sid_lines(metrics["sids"], metrics.get("quantize", {}))
    lines += ["", *stage_lines(runs),
              "more: `dvc metrics show` (every metric) · `dvc plots show` (an HTML page) · plots/*.png · "
              "`dqrec recommend USER_ID`"]
    return "\n".join(line.rstrip() for line in lines)
