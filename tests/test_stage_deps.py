"""dvc.yaml's code deps are exactly what each stage's entry point imports (so an edit reruns what it should)."""

from __future__ import annotations

from pathlib import Path

from tools.stage_deps import closure, derived_deps, imported_modules, listed_deps, module_file

ROOT = Path(__file__).resolve().parents[1]


def test_every_stage_lists_exactly_the_modules_its_entry_point_imports() -> None:
    listed, derived = listed_deps(), derived_deps()
    for stage, deps in derived.items():
        missing = sorted(set(deps) - set(listed[stage]))
        extra = sorted(set(listed[stage]) - set(deps))
        assert not missing and not extra, (f"stage {stage}: dvc.yaml misses {missing} and lists {extra} beyond its "
                                           "imports; run `python -m tools.stage_deps --write`")


def test_the_closure_follows_imports_through_packages_but_not_type_checking_blocks(tmp_path: Path) -> None:
    package = tmp_path / "src" / "dqrec"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "a.py").write_text("from dqrec.sub import b\nimport numpy\n")
    (package / "sub" / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                          "    from dqrec import c\nelse:\n    import dqrec.d\n")
    (package / "c.py").write_text("")
    (package / "d.py").write_text("")

    files = {str(p.relative_to(tmp_path)) for p in closure("dqrec.sub.a", tmp_path)}
    assert files == {"src/dqrec/__init__.py", "src/dqrec/sub/__init__.py", "src/dqrec/sub/a.py",
                     "src/dqrec/sub/b.py", "src/dqrec/d.py"}
    assert "dqrec.c" not in imported_modules(package / "sub" / "b.py")


def test_an_edit_to_the_model_reaches_train_and_evaluate_but_not_ingest() -> None:
    derived = derived_deps()
    using = {stage for stage, deps in derived.items() if "src/dqrec/cf/model.py" in deps}
    assert using == {"train", "evaluate"}
    assert {stage for stage, deps in derived.items() if "src/dqrec/data/readers.py" in deps} == {"ingest"}


# What every stage's flow may import from flows/: the shared entry point and the run's Prefect server.
SHARED_BY_FLOWS = {"flows.common", "flows.run_server"}


def test_flows_share_only_flows_common_and_nothing_outside_flows_reaches_into_them() -> None:
    def flow_modules(path: Path) -> set[str]:
        return {name for name in imported_modules(path) if name.split(".")[0] == "flows" and module_file(name)}

    for path in sorted((ROOT / "flows").glob("*.py")):
        if path.stem != "pipeline":  # the pipeline flow runs the others
            assert flow_modules(path) <= SHARED_BY_FLOWS, f"flows/{path.name} imports another stage's flow"
    for folder in ("benchmarks", "tools"):
        for path in sorted((ROOT / folder).glob("*.py")):
            # A benchmark that runs stages may start their Prefect server before its clock starts.
            assert flow_modules(path) <= {"flows.run_server"}, \
                f"{folder}/{path.name} imports a flow: read artifacts through dqrec"
