"""The results blocks of the README and docs/ come from the metrics files and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from dqrec.layout import Workspace
from tools.results import (
    ACTIVITY_END,
    ACTIVITY_START,
    COMPARISON_END,
    COMPARISON_START,
    DOCUMENTS,
    END,
    HEADLINE_END,
    HEADLINE_START,
    START,
    comparison_table,
    params_differing,
    rewrite_document,
    seeds_table,
    snapshot,
)


def method(error: float) -> dict:
    return {"relative_error": error, "held_out_relative_error": error + 0.01, "collision_rate": 0.05,
            "unique_ids": 900, "utilisation_min": 1.0, "utilisation": [1.0, 0.98], "perplexity": [200.0, 100.0],
            "seconds": 0.5}


def test_readme_block_is_rebuilt_from_every_snapshot(tmp_path: Path) -> None:
    run = tmp_path / "results" / "toy"
    run.mkdir(parents=True)
    quantize = {"user": {"n_entities": 1000, "n_codes": 64, "dqvae": method(0.1234), "pq_same_blocks": method(0.12),
                         "pq_no_rotation": method(0.3), "rq": method(0.05), "dqvae_over_pq_error": 1.0283,
                         "dqvae_over_pq_seconds": 2.5}}
    (run / "quantize.json").write_text(json.dumps(quantize))
    (run / "svd.json").write_text(json.dumps({"user": {"balance": 1.04}}))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{START}\nstale numbers\n{END}\noutro\n")

    rewrite_document(readme, tmp_path / "results")

    text = readme.read_text()
    assert "stale numbers" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert "| toy | user | 1,000 | 64 | 1.040 | 0.1234 | 1.0283 | 2.50 | 100% / 98% | 200 / 100 |" in text
    assert "| toy | user | residual k-means (RQ) | 0.0500 | 0.0600 |" in text


def test_a_readme_without_the_block_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("no block\n")
    with pytest.raises(SystemExit, match="no <!-- results"):
        rewrite_document(tmp_path / "README.md", tmp_path)


def test_evaluation_block_lists_every_variant_from_the_metrics(tmp_path: Path) -> None:
    run = tmp_path / "results" / "toy"
    run.mkdir(parents=True)
    report = {"recall@20": 0.15, "ndcg@20": 0.11, "recall@50": 0.3, "ndcg@50": 0.16, "coverage@20": 0.36,
              "by_user_activity": [{"recall@20": 0.2, "ndcg@20": 0.12}]}
    (run / "evaluate.json").write_text(json.dumps({"base": report, "full": report | {"recall@20": 0.16},
                                                  "full_vs_base": {"recall@20": 0.01}}))
    (run / "train.json").write_text(json.dumps({"base": {"best_epoch": 18}, "full": {"best_epoch": 12, "refit": True}}))
    (run / "quantize.json").write_text("{}")
    (run / "params.yaml").write_text("data: {dataset: toy}\ntrain: {variants: [base, full], lr: 0.003}\n")
    current = tmp_path / "params.yaml"
    current.write_text("data: {dataset: ml-100k}\ntrain: {variants: [base], lr: 0.003}\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{END}\n<!-- results:evaluate:start -->\nold\n<!-- results:evaluate:end -->\n")

    rewrite_document(readme, tmp_path / "results", current)

    text = readme.read_text()
    assert "| toy | base | 18 | no | 0.1500 | 0.1100 | 0.3000 | 0.1600 | 0.2000 | 0.1200 | 0.3600 | none |" in text
    assert "| toy | full | 12 | yes | 0.1600 |" in text and "old" not in text


def test_a_snapshot_run_under_other_params_names_the_keys_and_what_it_ran_with(tmp_path: Path) -> None:
    (tmp_path / "params.yaml").write_text("train: {dropout: 0.0, history_weight: 0.5, refit: true, "
                                          "feature_towers: [item]}\n")
    current = tmp_path / "current.yaml"
    current.write_text("train: {dropout: 0.0, history_weight: 0.2, refit: false, feature_towers: [user, item], "
                       "lr_decay: 1.0, sid_dropout: 0.5}\n")

    assert params_differing(tmp_path, current) == (
        "`train.feature_towers` [item], `train.history_weight` 0.5, `train.refit` true; "
        "predates `train.lr_decay`, `train.sid_dropout`")
    assert params_differing(tmp_path / "missing", current) == "unknown"


def test_a_named_snapshot_keeps_only_the_cf_metrics(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    (workspace / "data/ingest").mkdir(parents=True)
    (workspace / "metrics").mkdir()
    (workspace / "data/ingest/source.json").write_text(json.dumps({"dataset": "toy"}))
    for stage in ("ingest", "quantize", "train", "evaluate"):
        Workspace(workspace).write_metrics(stage, {"stage": stage, "seconds": 1.5})
    (workspace / "params.yaml").write_text("train: {refit: true}\n")

    plain, named = snapshot(workspace, tmp_path / "results"), snapshot(workspace, tmp_path / "results", "toy-refit")

    assert plain.name == "toy" and {p.name for p in plain.iterdir()} >= {"ingest.json", "quantize.json"}
    assert named.name == "toy-refit"
    assert sorted(p.name for p in named.iterdir()) == ["evaluate.json", "params.yaml", "timings.json", "train.json"]
    # the timings, kept out of the workspace's metrics, travel with the snapshot beside them
    assert json.loads((named / "timings.json").read_text()) == {"train": {"seconds": 1.5},
                                                               "evaluate": {"seconds": 1.5}}
    assert json.loads((named / "train.json").read_text()) == {"stage": "train"}


def cf_run(folder: Path, variant: str, recall: float, ndcg: float, params: str) -> None:
    folder.mkdir(parents=True)
    report = {"recall@20": recall, "ndcg@20": ndcg, "by_user_activity": [{"recall@20": recall / 2, "ndcg@20": ndcg}]}
    (folder / "evaluate.json").write_text(json.dumps({variant: report}))
    (folder / "train.json").write_text(json.dumps({variant: {"val_ndcg@20": ndcg / 2}}))
    (folder / "params.yaml").write_text(params)


def test_the_comparison_pairs_a_baseline_with_full_dqrec_and_gives_the_relative_change(tmp_path: Path) -> None:
    results = tmp_path / "results"
    cf_run(results / "toy", "base", 0.20, 0.10, "data: {dataset: toy}\ntrain: {dim: 64, neighbour_weight: 0.5}\n")
    cf_run(results / "toy-alpha", "full", 0.21, 0.099,
           "data: {dataset: toy}\ntrain: {dim: 64, neighbour_weight: 0.2}\nquantize: {beta: 0.5}\n")
    (results / "comparisons.yaml").write_text("- {setting: defaults, base: toy, full: toy-alpha}\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{END}\n{COMPARISON_START}\nold\n{COMPARISON_END}\n")

    rewrite_document(readme, results, tmp_path / "missing.yaml")

    assert ("| toy | defaults | 0.0500 / 0.0495 | 0.2000 / 0.1000 | 0.2100 / 0.0990 | +5.0 % / -1.0 % | "
            "0.1000 / 0.1000 | 0.1050 / 0.0990 | +5.0 % / -1.0 % | `toy`; `toy-alpha` |") in readme.read_text()


def test_a_comparison_of_runs_the_baseline_would_tell_apart_is_refused(tmp_path: Path) -> None:
    cf_run(tmp_path / "small", "base", 0.2, 0.1, "data: {dataset: toy}\ntrain: {dim: 64, lr: 0.003}\n")
    cf_run(tmp_path / "large", "full", 0.3, 0.2, "data: {dataset: other}\ntrain: {dim: 128}\n")
    (tmp_path / "comparisons.yaml").write_text("- {setting: bigger, base: small, full: large}\n")

    refusal = r"'bigger' pairs small with large, whose params differ in data\.dataset, train\.dim, train\.lr;"
    with pytest.raises(SystemExit, match=refusal):
        comparison_table(tmp_path)


@pytest.mark.parametrize("document", DOCUMENTS, ids=str)
def test_the_committed_documents_show_what_the_committed_results_hold(tmp_path: Path, document: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    copy = tmp_path / document.name
    copy.write_text((root / document).read_text())

    rewrite_document(copy, root / "results", root / "params.yaml")

    assert copy.read_text() == (root / document).read_text(), "run `python -m tools.results readme`"


def test_the_seeds_table_shows_means_and_the_paired_tests_of_each_comparison(tmp_path: Path) -> None:
    test = {"users": 10, "mean_a": 0.1, "mean_b": 0.11, "difference": 0.01, "relative": 0.1, "ci_low": 0.0,
            "ci_high": 0.02, "p_value": 0.0312}
    result = {"dataset": "toy", "seeds": [2025, 2026],
              "variants": {"base": {"val_ndcg@20": [0.05, 0.001], "recall@20": [0.2, 0.01], "ndcg@20": [0.1, 0.002]},
                           "full": {"val_ndcg@20": [0.06, 0.001], "recall@20": [0.22, 0.01], "ndcg@20": [0.11, 0.003]}},
              "against_base": {"full": {group: {"recall@20": test, "ndcg@20": test | {"relative": -0.05, "wins": 1}}
                                        for group in ("all", "sparsest_fifth", "seeds")}}}
    (tmp_path / "toy-run").mkdir()
    (tmp_path / "toy-run" / "summary.json").write_text(json.dumps(result))

    rows = seeds_table(tmp_path).splitlines()
    assert len(rows) == 3
    assert rows[2] == ("| `toy-run` (toy) | 2 | 0.0500 / 0.0600 | full | 0.2000 ± 0.0100 | 0.2200 ± 0.0100 | "
                       "0.1000 ± 0.0020 | 0.1100 ± 0.0030 | +10.0 % (p 0.031) | -5.0 % (p 0.031) | "
                       "+10.0 % (p 0.031) | -5.0 % (p 0.031) | 1 of 2, p 0.031 |")


def seeds_comparison(folder: Path, dataset: str, seeds: list[int], params: dict) -> None:
    test = {"users": 10, "mean_a": 0.1, "mean_b": 0.11, "difference": 0.01, "relative": 0.1, "ci_low": 0.0,
            "ci_high": 0.02, "p_value": 0.0312}
    result = {"dataset": dataset, "seeds": seeds,
              "variants": {v: {"val_ndcg@20": [0.05, 0.001], "recall@20": [0.2, 0.01], "ndcg@20": [0.1, 0.002]}
                           for v in ("base", "full")},
              "against_base": {"full": {group: {"recall@20": test, "ndcg@20": test | {"wins": 2}}
                                        for group in ("all", "sparsest_fifth", "seeds")}}}
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(result))
    for seed in seeds:
        (folder / f"seed-{seed}").mkdir()
        run_params = params | {"data": {"dataset": dataset}, "train": params["train"] | {"seed": seed}}
        (folder / f"seed-{seed}" / "params.yaml").write_text(yaml.safe_dump(run_params))


def test_the_headline_shows_per_dataset_the_largest_comparison_at_todays_params(tmp_path: Path) -> None:
    params = {"data": {"dataset": "ml-100k"}, "train": {"seed": 1, "lr": 0.003}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    seeds_comparison(tmp_path / "seeds" / "small", "ml-100k", [1, 2], params)
    seeds_comparison(tmp_path / "seeds" / "large", "ml-100k", [1, 2, 3], params)
    seeds_comparison(tmp_path / "seeds" / "other-lr", "ml-1m", [1, 2, 3], params | {"train": {"lr": 0.01}})
    seeds_comparison(tmp_path / "seeds" / "one-seed", "lightgcn-gowalla", [1], params)
    readme = tmp_path / "README.md"
    readme.write_text(f"{HEADLINE_START}\n{HEADLINE_END}\n")

    rewrite_document(readme, tmp_path, tmp_path / "params.yaml")

    rows = [line for line in readme.read_text().splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith("| ml-100k (`large`) | 3 | 0.1000 ± 0.0020 | 0.1000 ± 0.0020 | +10.0 % (p 0.031) |")
    assert rows[1].startswith("| ml-1m | – | not yet compared over seeds at these params")  # its lr differs
    assert rows[2].startswith("| lightgcn-gowalla | – |")  # one seed is a screen
    assert len(rows) == 5  # one per dataset


def test_the_activity_block_shows_the_headline_comparisons_fifth_by_fifth(tmp_path: Path) -> None:
    params = {"data": {"dataset": "ml-100k"}, "train": {"seed": 1, "lr": 0.003}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    seeds_comparison(tmp_path / "seeds" / "large", "ml-100k", [1, 2, 3], params)
    summary_path = tmp_path / "seeds" / "large" / "summary.json"
    summary = json.loads(summary_path.read_text())
    fifths = [{"max_train_interactions": n, "relative": gain, "p_value": 0.5} for n, gain in
              zip([23, 40, 75, 138, 589], [-0.057, 0.041, 0.0, 0.02, 0.06], strict=True)]
    summary_path.write_text(json.dumps(summary | {"by_activity_fifth": {"full": fifths}}))
    seeds_comparison(tmp_path / "seeds" / "older", "ml-1m", [1, 2, 3], params)  # summarised before the fifths
    document = tmp_path / "results.md"
    document.write_text(f"{ACTIVITY_START}\n{ACTIVITY_END}\n")

    rewrite_document(document, tmp_path, tmp_path / "params.yaml")

    rows = [line for line in document.read_text().splitlines() if line.startswith("| ")][1:]
    assert rows[0] == ("| ml-100k (`large`) | 3 | ≤ 23: -5.7 % (p 0.500) | ≤ 40: +4.1 % (p 0.500) | "
                       "≤ 75: +0.0 % (p 0.500) | ≤ 138: +2.0 % (p 0.500) | ≤ 589: +6.0 % (p 0.500) |")
    assert "not summarised by fifth (`python -m benchmarks.seeds --summarise results/seeds/older`)" in rows[1]
    assert len(rows) == 2  # datasets without a headline comparison have no row


def test_the_headline_reads_todays_params_as_each_dataset_runs_them(tmp_path: Path) -> None:
    params = {"data": {"dataset": "ml-100k"}, "pretrain": {"graph_dim": 0}, "train": {"seed": 1},
              "datasets": {"amazon-scientific-lcrec": {"pretrain": {"graph_dim": 64}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # A workspace states its dataset's entry in the sections (benchmarks.pipeline.workspace_copy).
    as_run = {"data": params["data"], "train": params["train"], "datasets": {}}
    graph, no_graph = as_run | {"pretrain": {"graph_dim": 64}}, as_run | {"pretrain": {"graph_dim": 0}}
    seeds_comparison(tmp_path / "seeds" / "graph", "amazon-scientific-lcrec", [1, 2], graph)
    seeds_comparison(tmp_path / "seeds" / "no-graph", "amazon-scientific-lcrec", [1, 2, 3], no_graph)
    seeds_comparison(tmp_path / "seeds" / "ml-graph", "ml-100k", [1, 2], graph)
    readme = tmp_path / "README.md"
    readme.write_text(f"{HEADLINE_START}\n{HEADLINE_END}\n")

    rewrite_document(readme, tmp_path, tmp_path / "params.yaml")

    rows = {line.split(" |")[0]: line for line in readme.read_text().splitlines() if line.startswith("| ")}
    # The larger comparison ran without the dataset's committed graph view: not at today's params.
    assert "| amazon-scientific-lcrec (`graph`)" in rows
    assert "| ml-100k" in rows and "not yet compared" in rows["| ml-100k"]  # the entry is not ml-100k's
