"""Results tables in the README and docs/, generated from metrics files, never typed by hand.

    python -m tools.results snapshot [--workspace DIR]   # copy a workspace's metrics and params to results/<dataset>/
    python -m tools.results snapshot --workspace DIR --name NAME   # an extra CF run of a snapshotted dataset
    python -m tools.results readme     # rewrite every results block of README.md and docs/ from results/

Blocks (``<!-- results:KIND:start -->`` ... ``end``): ``headline`` (README: the over-seeds comparisons run at
today's params.yaml), ``activity`` (their gain fifth by fifth of users), ``seeds`` (every over-seeds comparison),
``comparison`` (single-run base / full pairs named in results/comparisons.yaml; a pair whose params differ in
anything the baseline reads is refused), ``evaluate`` and ``quantize`` (every snapshot).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from dqrec.cf import SID_ONLY_KEYS
from dqrec.configtree import flatten, for_dataset
from dqrec.layout import Workspace

RESULTS_DIR = Path("results")
README = Path("README.md")
# Every document with generated blocks; each block kind may stand in any of them.
DOCUMENTS = (README, Path("docs/results.md"), Path("docs/method.md"))
PARAMS = Path("params.yaml")
# What a snapshot is expected to differ in from the current params: the dataset and the variants it ran.
PER_RUN_PARAMS = {"data.dataset", "train.variants"}
METRICS = ("ingest", "split", "pretrain", "svd", "quantize", "sids", "train", "evaluate")
CF_METRICS = ("train", "evaluate")  # all a named snapshot keeps: its upstream stages are the dataset's own
START, END = "<!-- results:quantize:start -->", "<!-- results:quantize:end -->"
EVAL_START, EVAL_END = "<!-- results:evaluate:start -->", "<!-- results:evaluate:end -->"
COMPARISON_START, COMPARISON_END = "<!-- results:comparison:start -->", "<!-- results:comparison:end -->"
SEEDS_START, SEEDS_END = "<!-- results:seeds:start -->", "<!-- results:seeds:end -->"
HEADLINE_START, HEADLINE_END = "<!-- results:headline:start -->", "<!-- results:headline:end -->"
ACTIVITY_START, ACTIVITY_END = "<!-- results:activity:start -->", "<!-- results:activity:end -->"
# The datasets the headline table has a row for, measured or not.
HEADLINE_DATASETS = ("ml-100k", "ml-1m", "lightgcn-gowalla", "amazon-beauty-s3rec", "amazon-scientific-lcrec")
# What a seeds comparison differs in from params.yaml by design: its dataset, variants and seeds.
PER_SEEDS_RUN_PARAMS = PER_RUN_PARAMS | {"pretrain.seed", "train.seed"}
COMPARISONS = "comparisons.yaml"
# Params the baseline never reads: the semantic IDs' stages and the SID variants' own switches. Two runs that differ
# only in these trained the same baseline.
SID_ONLY_PARAMS = ("pretrain.", "svd.", "quantize.", *(f"train.{key}" for key in SID_ONLY_KEYS))
METHODS = {"dqvae": "DQ-VAE", "pq_same_blocks": "k-means PQ, same blocks", "pq_no_rotation": "PQ, no rotation",
           "rq": "residual k-means (RQ)"}


def snapshot(workspace: Path = Path("."), results: Path = RESULTS_DIR, name: str | None = None) -> Path:
    """Copy a workspace's metrics and params to results/<dataset>/, or, given a ``name``, only its CF metrics to
    results/<name>/ (a second run of the train and evaluate stages under other params, e.g. with refit)."""
    dataset = json.loads((workspace / "data/ingest/source.json").read_text())["dataset"]
    target = results / (name or dataset)
    target.mkdir(parents=True, exist_ok=True)
    stages = CF_METRICS if name else METRICS
    for metric in stages:
        if (workspace / f"metrics/{metric}.json").exists():
            shutil.copy2(workspace / f"metrics/{metric}.json", target / f"{metric}.json")
    # The stages' timings live outside git in the workspace; a snapshot keeps them beside the results they timed.
    timings = {stage: Workspace(workspace).read_timings(stage) for stage in stages}
    (target / "timings.json").write_text(json.dumps(timings, indent=2, sort_keys=True) + "\n")
    shutil.copy2(workspace / "params.yaml", target / "params.yaml")
    return target


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _load(folder: Path) -> dict[str, Any]:
    return {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json")}


def tables(results: Path = RESULTS_DIR) -> str:
    runs = {folder.name: _load(folder) for folder in sorted(results.iterdir()) if (folder / "quantize.json").exists()}
    summary = ["| dataset | entity | N | J | block balance (max/min) | DQ-VAE rel. error | ÷ k-means PQ | "
               "DQ-VAE time ÷ PQ time | utilisation per level | perplexity per level |",
               "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    methods = ["| dataset | entity | method | rel. error (all) | rel. error (held-out) | collision rate | "
               "unique IDs | min utilisation | mean perplexity | seconds |",
               "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for dataset, run in runs.items():
        for entity, q in run["quantize"].items():
            # Older snapshots kept the timings inside quantize.json; newer ones in timings.json.
            timing = run.get("timings", {}).get("quantize", {}).get(entity, {})
            dq = q["dqvae"]
            summary.append(
                f"| {dataset} | {entity} | {q['n_entities']:,} | {q['n_codes']} | "
                f"{run['svd'][entity]['balance']:.3f} | "
                f"{dq['relative_error']:.4f} | {q['dqvae_over_pq_error']:.4f} | "
                f"{_seconds(q.get('dqvae_over_pq_seconds', timing.get('dqvae_over_pq_seconds')))} | "
                f"{' / '.join(f'{u:.0%}' for u in dq['utilisation'])} | "
                f"{' / '.join(f'{p:.0f}' for p in dq['perplexity'])} |")
            for key, label in METHODS.items():
                m = q[key]
                methods.append(
                    f"| {dataset} | {entity} | {label} | {m['relative_error']:.4f} | "
                    f"{m['held_out_relative_error']:.4f} | "
                    f"{m['collision_rate']:.4f} | {m['unique_ids']:,} | {m['utilisation_min']:.0%} | "
                    f"{sum(m['perplexity']) / len(m['perplexity']):.0f} | "
                    f"{_seconds(m.get('seconds', timing.get(key, {}).get('seconds')))} |")
    return "\n".join(summary) + "\n\n" + "\n".join(methods)


def _value(value: Any) -> str:
    """A param value as params.yaml spells it: true, 0.5, [user, item]."""
    if isinstance(value, list):
        return "[" + ", ".join(map(_value, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


# Keys params.yaml gained after some snapshots ran, stated at the value the code then used without a key (the
# encoder's weight decay was 0; every trainer was built for the CPU, in one process, at 32-bit precision): a
# snapshot without one ran with that value, so it is not "predates ..." but equal.
STATED_LATER = {"pretrain.weight_decay": 0.0, "trainer.accelerator": "auto", "trainer.devices": 1,
                "trainer.strategy": "auto", "trainer.num_nodes": 1, "trainer.precision": "32-true",
                # Off switches: a run made before them ran without the text and graph views, the gates and the
                # shrinkage, the SIDs in the history aggregate, the warm start from base.
                "pretrain.text_dim": 0, "pretrain.text_weight": 1.0, "pretrain.graph_dim": 0,
                "pretrain.graph_weight": 1.0, "train.sid_gate": False,
                "train.sid_shrinkage": 0.0, "train.history_sids": False, "train.warm_start": False,
                "train.freeze_base": False,
                # The bag of history items, the only user encoder before the GRU.
                "pretrain.history_encoder": "mean",
                # Inconsistency policies: every earlier run read a dataset that has all its side files and no
                # unknown ids (checked for the five real datasets), so "error" is what they ran with.
                "data.missing_side_files": "error", "data.unknown_ids": "error",
                # Every user ranked, in validation and test, as before the sampling options.
                "train.valid_users": 0, "evaluate.max_users": 0, "evaluate.seed": 2025,
                # auto is dense Adam below 100,000 embedding rows: every earlier run's catalogue (gowalla, the
                # largest, has 71k users and items) trained as dense Adam always did.
                "pretrain.embedding_gradients": "auto", "train.embedding_gradients": "auto"}


def shapes_the_baseline(key: str) -> bool:
    """Whether a dotted param can change a base run: every one but the SIDs' own and ``train.variants``."""
    return key != "train.variants" and not key.startswith(SID_ONLY_PARAMS)


def stated_params(path: Path, dataset: str | None = None) -> dict[str, Any]:
    """A params.yaml as run on ``dataset`` (by default its own ``data.dataset``: that dataset's ``datasets`` entry
    applied, the section dropped), flattened to dotted keys (``train.dim``), with the keys stated later at their
    values then."""
    params = for_dataset(yaml.safe_load(path.read_text()), dataset)
    if dataset is not None:
        params.setdefault("data", {})["dataset"] = dataset
    return STATED_LATER | flatten(params)


def differing_keys(first: dict[str, Any], second: dict[str, Any]) -> list[str]:
    """Keys of two flattened params whose values differ (a key only one has counts)."""
    return sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))


def params_differing(snapshot: Path, current: Path) -> str:
    """What a snapshot's params.yaml ran with where it differs from the current one ("none"), so that a table row
    run under other settings says which; keys added since the run are listed apart, as "predates ..."."""
    if not (snapshot / "params.yaml").exists():
        return "unknown"
    ran = stated_params(snapshot / "params.yaml")
    keys = [k for k in differing_keys(ran, stated_params(current, ran.get("data.dataset"))) if k not in PER_RUN_PARAMS]
    parts = []
    if differing := [f"`{k}` {_value(ran[k])}" for k in keys if k in ran]:
        parts.append(", ".join(differing))
    if predates := [f"`{k}`" for k in keys if k not in ran]:
        parts.append("predates " + ", ".join(predates))
    return "; ".join(parts) or "none"


def evaluation_table(results: Path = RESULTS_DIR, params: Path = PARAMS) -> str:
    rows = ["| dataset | variant | best epoch (validation) | refit | Recall@20 | NDCG@20 | Recall@50 | NDCG@50 | "
            "Recall@20, sparsest user fifth | NDCG@20, sparsest user fifth | item coverage@20 | "
            "params where they differ from params.yaml |",
            "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for folder in sorted(results.iterdir()):
        if not (folder / "evaluate.json").exists():
            continue
        run = _load(folder)
        differing = params_differing(folder, params)
        for variant, report in run["evaluate"].items():
            if variant == "full_vs_base":
                continue
            rows.append(
                f"| {folder.name} | {variant} | {run['train'][variant]['best_epoch']} | "
                f"{'yes' if run['train'][variant].get('refit') else 'no'} | {report['recall@20']:.4f} | "
                f"{report['ndcg@20']:.4f} | {report['recall@50']:.4f} | {report['ndcg@50']:.4f} | "
                f"{report['by_user_activity'][0]['recall@20']:.4f} | {report['by_user_activity'][0]['ndcg@20']:.4f} | "
                f"{report['coverage@20']:.4f} | {differing} |")
    return "\n".join(rows)


def _pair(report: dict[str, Any]) -> str:
    return f"{report['recall@20']:.4f} / {report['ndcg@20']:.4f}"


def _changes(new: dict[str, Any], old: dict[str, Any]) -> str:
    """Relative change of Recall@20 and NDCG@20, e.g. "+2.3 % / -0.4 %"."""
    return " / ".join(f"{(new[k] - old[k]) / old[k]:+.1%}".replace("%", " %") for k in ("recall@20", "ndcg@20"))


def comparison_table(results: Path = RESULTS_DIR) -> str:
    """Full DQRec against its baseline on test, one row per pair of runs that results/comparisons.yaml names."""
    spec = results / COMPARISONS
    rows = ["| dataset | setting | validation NDCG@20, base / full | base, Recall@20 / NDCG@20 | "
            "full, Recall@20 / NDCG@20 | full vs base | sparsest user fifth, base | sparsest user fifth, full | "
            "full vs base, sparsest fifth | runs (base; full) |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for entry in yaml.safe_load(spec.read_text()):
        base_run, full_run = results / entry["base"], results / entry["full"]
        full_params = stated_params(full_run / "params.yaml")
        apart = [k for k in differing_keys(stated_params(base_run / "params.yaml"), full_params)
                 if shapes_the_baseline(k)]  # the dataset must agree
        if apart:
            raise SystemExit(f"{spec}: '{entry['setting']}' pairs {entry['base']} with {entry['full']}, whose params "
                             f"differ in {', '.join(apart)}; a baseline must run with the params of the full run")
        base_metrics, full_metrics = _load(base_run), _load(full_run)
        base, full = base_metrics["evaluate"]["base"], full_metrics["evaluate"]["full"]
        selected = (base_metrics["train"]["base"]["val_ndcg@20"], full_metrics["train"]["full"]["val_ndcg@20"])
        sparse_base, sparse_full = base["by_user_activity"][0], full["by_user_activity"][0]
        cells = [full_params["data.dataset"], entry["setting"], f"{selected[0]:.4f} / {selected[1]:.4f}",
                 _pair(base), _pair(full), _changes(full, base), _pair(sparse_base), _pair(sparse_full),
                 _changes(sparse_full, sparse_base), f"`{entry['base']}`; `{entry['full']}`"]
        rows.append(f"| {' | '.join(cells)} |")
    return "\n".join(rows)


def _fill(text: str, start: str, end: str, content: str, readme: Path) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} block to fill")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    note = "<!-- generated by `python -m tools.results readme` from results/*/; do not edit by hand -->"
    return f"{head}{start}\n{note}\n\n{content}\n\n{end}{tail}"


def _mean_std(pair: list[float]) -> str:
    return f"{pair[0]:.4f} ± {pair[1]:.4f}"


def _paired(test: dict[str, Any]) -> str:
    p = "p < 0.001" if test["p_value"] < 0.001 else f"p {test['p_value']:.3f}"
    return f"{test['relative']:+.1%} ({p})".replace("%", " %")


def seeds_table(results: Path = RESULTS_DIR / "seeds") -> str:
    """One row per variant against the baseline, from each ``benchmarks/seeds.py`` comparison's summary.json."""
    rows = ["| comparison | seeds | validation NDCG@20, base / variant | variant | test Recall@20, base | "
            "test Recall@20, variant | test NDCG@20, base | test NDCG@20, variant | Δ Recall@20 (p) | Δ NDCG@20 (p) | "
            "sparsest fifth: Δ Recall@20 (p) | Δ NDCG@20 (p) | over seeds: NDCG@20 won, p |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for path in sorted(results.glob("*/summary.json")) if results.is_dir() else []:
        result = json.loads(path.read_text())
        base = result["variants"]["base"]
        for variant, groups in result["against_base"].items():
            mine = result["variants"][variant]
            rows.append(
                f"| `{path.parent.name}` ({result['dataset']}) | {len(result['seeds'])} | "
                f"{base['val_ndcg@20'][0]:.4f} / {mine['val_ndcg@20'][0]:.4f} | {variant} | "
                f"{_mean_std(base['recall@20'])} | {_mean_std(mine['recall@20'])} | {_mean_std(base['ndcg@20'])} | "
                f"{_mean_std(mine['ndcg@20'])} | {_paired(groups['all']['recall@20'])} | "
                f"{_paired(groups['all']['ndcg@20'])} | {_paired(groups['sparsest_fifth']['recall@20'])} | "
                f"{_paired(groups['sparsest_fifth']['ndcg@20'])} | "
                f"{groups['seeds']['ndcg@20']['wins']} of {len(result['seeds'])}, "
                f"p {groups['seeds']['ndcg@20']['p_value']:.3f} |")
    return "\n".join(rows)


def _at_current_params(comparison: Path, params: Path) -> bool:
    first_run = min(comparison.glob("seed-*/params.yaml"), default=None)
    if first_run is None:
        return False
    ran = stated_params(first_run)
    differing = differing_keys(ran, stated_params(params, ran.get("data.dataset")))
    return not [k for k in differing if k not in PER_SEEDS_RUN_PARAMS]


def headline_comparisons(results: Path = RESULTS_DIR / "seeds", params: Path = PARAMS) -> dict[str, dict[str, Any]]:
    """Per dataset, the over-seeds comparison of full against base (two seeds at least) run at today's params.yaml,
    the largest where there are several, as its summary.json with its folder's name."""
    current: dict[str, dict[str, Any]] = {}
    for path in sorted(results.glob("*/summary.json")) if results.is_dir() else []:
        result = json.loads(path.read_text())
        # One seed is a screen, not a comparison: the headline needs at least two.
        if "full" in result["against_base"] and len(result["seeds"]) >= 2 and _at_current_params(path.parent, params):
            best = current.get(result["dataset"])
            if best is None or len(result["seeds"]) > len(best["seeds"]):
                current[result["dataset"]] = result | {"name": path.parent.name}
    return current


def headline_table(results: Path = RESULTS_DIR / "seeds", params: Path = PARAMS) -> str:
    """Full against base per dataset from ``headline_comparisons``; a dataset without one says so."""
    rows = ["| dataset | seeds | test NDCG@20, base | test NDCG@20, full | Δ NDCG@20 (p) | Δ Recall@20 (p) | "
            "sparsest fifth: Δ NDCG@20 (p) | seeds full won |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    current = headline_comparisons(results, params)
    for dataset in HEADLINE_DATASETS:
        if dataset not in current:
            rows.append(f"| {dataset} | – | not yet compared over seeds at these params (`docs/results.md` has "
                        "earlier settings) | | | | | |")
            continue
        result = current[dataset]
        groups, variants = result["against_base"]["full"], result["variants"]
        rows.append(f"| {dataset} (`{result['name']}`) | {len(result['seeds'])} | "
                    f"{_mean_std(variants['base']['ndcg@20'])} | {_mean_std(variants['full']['ndcg@20'])} | "
                    f"{_paired(groups['all']['ndcg@20'])} | "
                    f"{_paired(groups['all']['recall@20'])} | {_paired(groups['sparsest_fifth']['ndcg@20'])} | "
                    f"{groups['seeds']['ndcg@20']['wins']} of {len(result['seeds'])} |")
    return "\n".join(rows)


def activity_table(results: Path = RESULTS_DIR / "seeds", params: Path = PARAMS) -> str:
    """The headline comparisons' gain in test NDCG@20 fifth by fifth of users by train interactions, sparsest
    first: where along activity the SIDs help."""
    rows = ["| dataset | seeds | fifth 1 (sparsest) | fifth 2 | fifth 3 | fifth 4 | fifth 5 (densest) |",
            "|---|---:|" + "---:|" * 5]
    current = headline_comparisons(results, params)
    for dataset, result in ((name, current[name]) for name in HEADLINE_DATASETS if name in current):
        fifths = result.get("by_activity_fifth", {}).get("full")
        if fifths is None:  # a summary.json written before the fifths were: `--summarise` rewrites it
            rows.append(f"| {dataset} (`{result['name']}`) | {len(result['seeds'])} | not summarised by fifth "
                        f"(`python -m benchmarks.seeds --summarise results/seeds/{result['name']}`) | | | | |")
            continue
        rows.append(f"| {dataset} (`{result['name']}`) | {len(result['seeds'])} | "
                    + " | ".join(f"≤ {fifth['max_train_interactions']}: {_paired(fifth)}" for fifth in fifths)
                    + " |")
    return "\n".join(rows)


def rewrite_document(document: Path, results: Path = RESULTS_DIR, params: Path = PARAMS) -> None:
    """Fill every results block ``document`` holds from ``results``; a document with none is refused."""
    blocks = {(START, END): lambda: tables(results),
              (EVAL_START, EVAL_END): lambda: evaluation_table(results, params),
              (COMPARISON_START, COMPARISON_END): lambda: comparison_table(results),
              (SEEDS_START, SEEDS_END): lambda: seeds_table(results / "seeds"),
              (HEADLINE_START, HEADLINE_END): lambda: headline_table(results / "seeds", params),
              (ACTIVITY_START, ACTIVITY_END): lambda: activity_table(results / "seeds", params)}
    text = document.read_text()
    present = [(start, end) for start, end in blocks if start in text]
    if not present:
        raise SystemExit(f"{document} has no <!-- results:KIND:start --> ... end block to fill")
    for start, end in present:
        text = _fill(text, start, end, blocks[start, end](), document)
    document.write_text(text)


def rewrite_documents(root: Path = Path("."), results: Path = RESULTS_DIR, params: Path = PARAMS) -> list[Path]:
    paths = [root / document for document in DOCUMENTS]
    for path in paths:
        rewrite_document(path, root / results, root / params)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["snapshot", "readme"])
    parser.add_argument("--workspace", type=Path, default=Path("."),
                        help="snapshot: the pipeline workspace to copy from (default: here)")
    parser.add_argument("--name", help="snapshot: store as results/NAME, the CF metrics only (default: the "
                                       "dataset's name, every stage's metrics)")
    args = parser.parse_args()
    if args.command == "snapshot":
        print(f"wrote {snapshot(args.workspace, name=args.name)}")
    else:
        rewritten = rewrite_documents()
        print(f"rewrote the results blocks of {', '.join(map(str, rewritten))}")


if __name__ == "__main__":
    main()
