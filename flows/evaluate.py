"""Evaluate stage: full ranking on the test split for each trained variant (train and validation items masked).
Everything about a variant comes from its checkpoint; this stage reads no training params."""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from dqrec.cf.artifacts import load_trained, trained_variants
from dqrec.evaluate.artifacts import read_per_user, write_per_user
from dqrec.evaluate.plots import quintile_bars
from dqrec.evaluate.report import EvaluateConfig, Evaluation
from dqrec.evaluate.scoring import attach_test_inputs, score_test_users
from dqrec.summary import headline
from dqrec.training import TrainerConfig, device_of
from flows.common import WORKSPACE, run_stage, section

HEADLINE = ("recall@20", "ndcg@20", "recall@50", "ndcg@50", "hr@20", "coverage@20")


@task(cache_policy=NO_CACHE)
def evaluate_variant(variant: str, device: str, config: EvaluateConfig) -> Evaluation:
    model = load_trained(WORKSPACE, variant)
    return score_test_users(model, attach_test_inputs(model, WORKSPACE), device, config)


@flow(name="evaluate", log_prints=True)
def evaluate_flow() -> dict:
    device = str(device_of(section("trainer", TrainerConfig)))
    config = section("evaluate", EvaluateConfig)
    evaluations = {variant: evaluate_variant(variant, device, config) for variant in trained_variants(WORKSPACE)}
    reports = {variant: evaluation.report for variant, evaluation in evaluations.items()}
    metrics = dict(reports)
    if {"base", "full"} <= set(reports):
        metrics["full_vs_base"] = {
            key: reports["full"][key] - reports["base"][key] for key in HEADLINE
        } | {"sparsest_users_recall@20": reports["full"]["by_user_activity"][0]["recall@20"]
             - reports["base"]["by_user_activity"][0]["recall@20"]}
    WORKSPACE.write_metrics("evaluate", metrics)
    write_per_user(WORKSPACE.evaluate_dir, {variant: e.per_user for variant, e in evaluations.items()})
    # A handful of numbers per variant, for comparing experiments side by side (`dqrec compare`); the validation
    # score comes from the train stage's metrics.
    WORKSPACE.write_metrics("headline", headline(metrics, WORKSPACE.read_metrics("train"),
                                                 read_per_user(WORKSPACE.evaluate_dir)))
    quintile_bars(reports, WORKSPACE.plot_file("evaluate_quintiles.png"))
    logger = get_run_logger()
    for variant, report in reports.items():
        if "sampled_from" in report:  # a sample's means, with their 95 % intervals
            logger.info("%s on test (%s): Recall@20 %.4f ± %.4f, NDCG@20 %.4f ± %.4f (95 %% intervals; %d users "
                        "sampled of %d)", variant, device, report["recall@20"], report["recall@20_ci95"],
                        report["ndcg@20"], report["ndcg@20_ci95"], report["users"], report["sampled_from"])
        else:
            logger.info("%s on test (%s): Recall@20 %.4f, NDCG@20 %.4f (%d users)", variant, device,
                        report["recall@20"], report["ndcg@20"], report["users"])
    create_table_artifact(key="evaluate-test", description="Full-ranking test metrics per variant",
                          table=[{"variant": v, **{k: r[k] for k in HEADLINE}} for v, r in reports.items()])
    return metrics


if __name__ == "__main__":
    run_stage(evaluate_flow)
