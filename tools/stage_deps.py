"""The code deps of every DVC stage, derived from its entry point's imports, never listed by hand.

    python -m tools.stage_deps           # print each stage's code deps and whether dvc.yaml lists exactly them
    python -m tools.stage_deps --write   # rewrite the code deps in dvc.yaml (data deps are kept as they are)

A stage's code deps are its entry module (``cmd: python -m flows.<stage>``) and every project module that it
imports, directly or through other project modules, with the ``__init__.py`` of each package on the way: exactly
the files whose edit can change what the stage computes. Imports under ``if TYPE_CHECKING:`` are not followed
(they never run). Editing one module then makes stale exactly the stages that import it.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC_YAML = ROOT / "dvc.yaml"
# Top-level packages of the project, and the folder each lives in.
PACKAGES = {"dqrec": ROOT / "src", "flows": ROOT}


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of project module ``name`` (a package's ``__init__.py``), or None if it is not the project's."""
    top = name.split(".")[0]
    if top not in PACKAGES:
        return None
    base = (root / PACKAGES[top].relative_to(ROOT)).joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports at run time (``from a.b import c``: a.b.c if that is a
    module, else a.b)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return names


def closure(entry: str, root: Path = ROOT) -> list[Path]:
    """Every project file that importing module ``entry`` runs, sorted."""
    seen: set[Path] = set()
    pending = [entry]
    while pending:
        name = pending.pop()
        parts = name.split(".")
        # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
        for depth in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:depth]), root)
            if path is None or path in seen:
                continue
            seen.add(path)
            pending.extend(imported_modules(path))
    return sorted(seen)


def entry_module(command: str) -> str:
    match = re.fullmatch(r"python -m ([\w.]+)", command.strip())
    if not match:
        raise ValueError(f"dvc.yaml: stage command {command!r} is not `python -m <module>`")
    return match.group(1)


def is_code(dep: str) -> bool:
    return dep.endswith(".py") or any(dep == folder or dep.startswith(f"{folder}/")
                                      for folder in ("src", "flows"))


def derived_deps(dvc_yaml: Path = DVC_YAML) -> dict[str, list[str]]:
    """Stage -> its code deps (relative paths) followed by the data deps dvc.yaml lists."""
    stages = yaml.safe_load(dvc_yaml.read_text())["stages"]
    root = dvc_yaml.parent
    result = {}
    for name, stage in stages.items():
        code = [str(path.relative_to(root)) for path in closure(entry_module(stage["cmd"]), root)]
        data = [dep for dep in stage.get("deps", []) if not is_code(dep)]
        result[name] = code + data
    return result


def listed_deps(dvc_yaml: Path = DVC_YAML) -> dict[str, list[str]]:
    return {name: list(stage.get("deps", [])) for name, stage in yaml.safe_load(dvc_yaml.read_text())["stages"].items()}


def rewrite(dvc_yaml: Path = DVC_YAML) -> bool:
    """Replace each stage's deps block in dvc.yaml by the derived one, keeping every other line; True if changed."""
    wanted = derived_deps(dvc_yaml)
    lines = dvc_yaml.read_text().splitlines(keepends=True)
    out: list[str] = []
    stage = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if match := re.fullmatch(r"  (\w[\w-]*):\n", line):
            stage = match.group(1)
        if line == "    deps:\n" and stage in wanted:
            out.append(line)
            out.extend(f"      - {dep}\n" for dep in wanted[stage])
            index += 1
            while index < len(lines) and lines[index].startswith("      - "):
                index += 1
            continue
        out.append(line)
        index += 1
    text = "".join(out)
    changed = text != dvc_yaml.read_text()
    if changed:
        dvc_yaml.write_text(text)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stage_deps", description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="rewrite dvc.yaml's code deps")
    args = parser.parse_args(argv)
    if args.write:
        print("dvc.yaml: code deps rewritten" if rewrite() else "dvc.yaml: code deps already derived")
        return 0
    listed, derived = listed_deps(), derived_deps()
    stale = [name for name in derived if listed.get(name) != derived[name]]
    for name, deps in derived.items():
        print(f"{name}: {sum(is_code(d) for d in deps)} code files{'  (dvc.yaml differs)' if name in stale else ''}")
    if stale:
        print(f"dvc.yaml's deps differ for {', '.join(stale)}: run `python -m tools.stage_deps --write`")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
