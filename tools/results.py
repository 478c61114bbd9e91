"""Results tables in the README, generated from metrics files, never typed by hand.

    python -m tools.results snapshot [--workspace DIR]   # copy a workspace's metrics and params to results/<dataset>/
    python -m tools.results snapshot --workspace DIR --name NAME   # an extra CF run of a snapshotted dataset
    python -m tools.results readme     # rewrite the README's results block from every results/*/ snapshot
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import yaml

RESULTS_DIR = Path("results")
README = Path("README.md")
PARAMS = Path("params.yaml")
# What a snapshot is expected to differ in from the current params: the dataset and the variants it ran.
PER_RUN_PARAMS = {"data.dataset", "train.variants"}
METRICS = ("ingest", "split", "pretrain", "svd", "quantize", "sids", "train", "evaluate")
CF_METRICS = ("train", "evaluate")  # all a named snapshot keeps: its upstream stages are the dataset's own
START, END = "<!-- results:quantize:start -->", "<!-- results:quantize:end -->"
EVAL_START, EVAL_END = "<!-- results:evaluate:start -->", "<!-- results:evaluate:end -->"
METHODS = {"dqvae": "DQ-VAE", "pq_same_blocks": "k-means PQ, same blocks", "pq_no_rotation": "PQ, no rotation",
           "rq": "residual k-means (RQ)"}


def snapshot(workspace: Path = Path("."), results: Path = RESULTS_DIR, name: str | None = None) -> Path:
    """Copy a workspace's metrics and params to results/<dataset>/, or, given a ``name``, only its CF metrics to
    results/<name>/ (a second run of the train and evaluate stages under other params, e.g. with refit)."""
    dataset = json.loads((workspace / "data/ingest/source.json").read_text())["dataset"]
    target = results / (name or dataset)
    target.mkdir(parents=True, exist_ok=True)
    for metric in CF_METRICS if name else METRICS:
        if (workspace / f"metrics/{metric}.json").exists():
            shutil.copy2(workspace / f"metrics/{metric}.json", target / f"{metric}.json")
    shutil.copy2(workspace / "params.yaml", target / "params.yaml")
    return target


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
            dq = q["dqvae"]
            summary.append(
                f"| {dataset} | {entity} | {q['n_entities']:,} | {q['n_codes']} | "
                f"{run['svd'][entity]['balance']:.3f} | "
                f"{dq['relative_error']:.4f} | {q['dqvae_over_pq_error']:.4f} | {q['dqvae_over_pq_seconds']:.2f} | "
                f"{' / '.join(f'{u:.0%}' for u in dq['utilisation'])} | "
                f"{' / '.join(f'{p:.0f}' for p in dq['perplexity'])} |")
            for key, label in METHODS.items():
                m = q[key]
                methods.append(
                    f"| {dataset} | {entity} | {label} | {m['relative_error']:.4f} | "
                    f"{m['held_out_relative_error']:.4f} | "
                    f"{m['collision_rate']:.4f} | {m['unique_ids']:,} | {m['utilisation_min']:.0%} | "
                    f"{sum(m['perplexity']) / len(m['perplexity']):.0f} | {m['seconds']:.2f} |")
    return "\n".join(summary) + "\n\n" + "\n".join(methods)


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": value}
    return flat


def _value(value: Any) -> str:
    """A param value as params.yaml spells it: true, 0.5, [user, item]."""
    if isinstance(value, list):
        return "[" + ", ".join(map(_value, value)) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def params_differing(snapshot: Path, current: Path) -> str:
    """What a snapshot's params.yaml ran with where it differs from the current one ("none"), so that a table row
    run under other settings says which; keys added since the run are listed apart, as "predates ..."."""
    if not (snapshot / "params.yaml").exists():
        return "unknown"
    ran, now = (_flat(yaml.safe_load(path.read_text())) for path in (snapshot / "params.yaml", current))
    keys = sorted(k for k in ran.keys() | now.keys() if k not in PER_RUN_PARAMS and ran.get(k) != now.get(k))
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


def _fill(text: str, start: str, end: str, content: str, readme: Path) -> str:
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} block to fill")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    note = "<!-- generated by `python -m tools.results readme` from results/*/; do not edit by hand -->"
    return f"{head}{start}\n{note}\n\n{content}\n\n{end}{tail}"


def rewrite_readme(readme: Path = README, results: Path = RESULTS_DIR, params: Path = PARAMS) -> None:
    text = _fill(readme.read_text(), START, END, tables(results), readme)
    if EVAL_START in text:
        text = _fill(text, EVAL_START, EVAL_END, evaluation_table(results, params), readme)
    readme.write_text(text)


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
        rewrite_readme()
        print(f"rewrote the results block of {README}")


if __name__ == "__main__":
    main()
