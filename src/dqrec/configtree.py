"""One generic reader from a flat params section (a ``params.yaml`` mapping) to a frozen config dataclass, and back.

Rules, the same for every section:
- every dataclass field is a param of the section, under its own name, unless marked ``runtime()`` (set by code,
  never by params: progress bars, a quantity derived per entity, the variant's switches);
- a field marked ``nested()`` holds a dataclass whose params sit in the same flat section beside the outer ones
  (``train.lr`` fills ``TrainConfig.fit.model.lr``); two fields of one section never share a name;
- a key the section does not know is an error naming it (with the nearest known key), and so is a value of the
  wrong type; a key left out takes the dataclass default, which is the one place defaults live;
- the optional last section, ``datasets``, holds settings committed for one dataset ({dataset: {section: {key:
  value}}}); where ``data.dataset`` names it, its keys replace the sections' own, and every dataset's keys are
  checked by the same rules, whichever dataset runs.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import types
import typing
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")
log = logging.getLogger(__name__)

# params.yaml's sections, in order (dqrec.params.Params has one field each; a test keeps them equal).
SECTIONS = ("data", "split", "pretrain", "svd", "quantize", "train", "evaluate", "trainer")
# params.yaml's last, optional section: settings chosen on one dataset's validation and committed for it,
# {dataset: {section: {key: value}}}; where data.dataset names that dataset, they replace the sections' keys.
PER_DATASET = "datasets"
_NESTED = "dqrec.nested"
_RUNTIME = "dqrec.runtime"


class ConfigError(ValueError):
    """A params section that does not fit its config: the message names the key and what was expected."""


def nested(default_factory: Any) -> Any:
    """A dataclass field whose own fields are read from the same flat params section."""
    return dataclasses.field(default_factory=default_factory, metadata={_NESTED: True})


def runtime(default: Any) -> Any:
    """A field that code sets and params never do."""
    return dataclasses.field(default=default, metadata={_RUNTIME: True})


def _param_fields(cls: type) -> Iterator[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if not field.metadata.get(_RUNTIME):
            yield field, hints[field.name]


def param_names(cls: type) -> list[str]:
    """Every param key of the section ``cls`` reads, nested dataclasses flattened, in field order."""
    names: list[str] = []
    for field, hint in _param_fields(cls):
        names += param_names(hint) if field.metadata.get(_NESTED) else [field.name]
    return names


def _coerce(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(hint):
            try:
                return _coerce(value, option, where)
            except ConfigError as error:
                errors.append(str(error).split(": ", 1)[-1])
        raise ConfigError(f"{where}: {' or '.join(errors)}")
    if typing.get_origin(hint) is typing.Literal:
        if value in typing.get_args(hint):
            return value
        raise ConfigError(f"{where}: expected {' or '.join(map(repr, typing.get_args(hint)))}, got {value!r}")
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, typing.get_args(hint)[0], f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            raise ConfigError(f"{where}: expected one of {[m.value for m in hint]}, got {value!r}") from None
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    raise TypeError(f"{where}: no reader for the type {hint!r}")  # a bug in a config class, not in params


def _build(cls: type[T], values: dict[str, Any], section: str) -> T:
    kwargs = {}
    for field, hint in _param_fields(cls):
        if field.metadata.get(_NESTED):
            kwargs[field.name] = _build(hint, values, section)
        elif field.name in values:
            kwargs[field.name] = _coerce(values.pop(field.name), hint, f"{section}.{field.name}")
    try:
        return cls(**kwargs)
    except ValueError as error:  # a config's own range checks
        raise ConfigError(f"{section}: {error}") from None


def from_section(cls: type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """The ``cls`` config of params section ``section`` (its flat mapping); unknown keys are refused by name."""
    names = param_names(cls)
    duplicated = {name for name in names if names.count(name) > 1}
    if duplicated:
        raise TypeError(f"{cls.__name__}: fields {sorted(duplicated)} appear twice in section '{section}'")
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(f"{section}: expected a mapping of keys to values, got {values!r}")
    remaining = dict(values or {})
    unknown = [key for key in remaining if key not in names]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(str(key), names, n=1)
            hints.append(f"{section}.{key}" + (f" (did you mean {section}.{close[0]}?)" if close else ""))
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                          f"section '{section}' has: {', '.join(names)}")
    return _build(cls, remaining, section)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def to_section(config: Any) -> dict[str, Any]:
    """The flat params mapping of ``config`` (plain YAML/JSON types): ``from_section``'s inverse."""
    values: dict[str, Any] = {}
    for field, _ in _param_fields(type(config)):
        value = getattr(config, field.name)
        if field.metadata.get(_NESTED):
            values |= to_section(value)
        else:
            values[field.name] = _plain(value)
    return values


def read_params_file(path: Path) -> dict[str, Any]:
    """The sections of a params file, each name checked (a misspelt section would otherwise fall back to the
    defaults without a sign)."""
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: not found (run from the workspace root, where params.yaml is)") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of sections, got {type(values).__name__}")
    unknown = _unknown_sections(values, (*SECTIONS, PER_DATASET))
    if unknown:
        raise ConfigError(f"{path}: {unknown}; expected some of {', '.join(SECTIONS)} (and {PER_DATASET})")
    try:
        _check_per_dataset(values.get(PER_DATASET))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    return values


def _unknown_sections(values: Mapping[str, Any], known: tuple[str, ...], prefix: str = "") -> str:
    """'' if every key of ``values`` is a known section, else the message naming the others."""
    unknown = [str(name) for name in values if name not in known]
    hints = [prefix + name + (f" (did you mean {prefix}{close[0]}?)"
                              if (close := difflib.get_close_matches(name, known, 1)) else "") for name in unknown]
    return f"unknown section{'s' if len(unknown) > 1 else ''} {', '.join(hints)}" if unknown else ""


def _check_per_dataset(entries: Any) -> None:
    if entries is None:
        return
    if not isinstance(entries, Mapping):
        raise ConfigError(f"{PER_DATASET}: expected a mapping of dataset names to sections, got {entries!r}")
    for dataset, sections in entries.items():
        where = f"{PER_DATASET}.{dataset}"
        if not isinstance(sections, Mapping):
            raise ConfigError(f"{where}: expected a mapping of sections to keys, got {sections!r}")
        if unknown := _unknown_sections(sections, SECTIONS, f"{where}."):
            raise ConfigError(f"{unknown}; expected some of {', '.join(SECTIONS)}")
        for section, keys in sections.items():
            if not isinstance(keys, Mapping):
                raise ConfigError(f"{where}.{section}: expected a mapping of keys to values, got {keys!r}")
        if "dataset" in sections.get("data", {}):
            raise ConfigError(f"{where}.data.dataset: a dataset's own settings cannot name another dataset")


def for_dataset(values: Mapping[str, Any], dataset: str | None = None) -> dict[str, Any]:
    """The sections of a params mapping with the ``datasets`` entry of ``dataset`` (by default ``data.dataset``)
    in place of their keys, and without the ``datasets`` section: what the stages run with."""
    sections = {name: dict(keys or {}) for name, keys in values.items() if name != PER_DATASET}
    name = dataset if dataset is not None else sections.get("data", {}).get("dataset")
    for section, keys in ((values.get(PER_DATASET) or {}).get(name) or {}).items():
        sections[section] = sections.get(section, {}) | dict(keys)
    return sections


def replaced_keys(written: Mapping[str, Any], run: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The keys of a section as written whose value differs in the section as run (``for_dataset``'s), each as
    (written, run): what a ``-S`` of the section key, which DVC writes into the section, will not change."""
    return {key: (value, run[key]) for key, value in written.items() if key in run and run[key] != value}


def per_dataset_keys(values: Mapping[str, Any], section: str) -> dict[str, list[str]]:
    """Per dataset of the ``datasets`` section, the keys it sets in ``section`` (for checking them by name)."""
    return {str(dataset): list((sections or {}).get(section) or {})
            for dataset, sections in (values.get(PER_DATASET) or {}).items()}


def check_dataset_keys(values: Mapping[str, Any], section: str, cls: type) -> None:
    """Refuse, by its full name, a key that any dataset's entry sets in ``section`` and ``cls`` lacks."""
    names = param_names(cls)
    for dataset, keys in per_dataset_keys(values, section).items():
        if unknown := [key for key in keys if key not in names]:
            raise ConfigError(f"unknown key {PER_DATASET}.{dataset}.{section}.{unknown[0]}; section '{section}' "
                              f"has: {', '.join(names)}")


def load_section(path: Path, section: str, cls: type[T]) -> T:
    """Section ``section`` of the params file at ``path`` as a ``cls`` config, with the ``datasets`` entry of the
    file's ``data.dataset`` applied; a key that any dataset's entry sets and ``cls`` lacks is refused by name."""
    try:
        values = read_params_file(path)
        check_dataset_keys(values, section, cls)
        run = for_dataset(values).get(section) or {}
        config = from_section(cls, run, section)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    if replaced := replaced_keys(values.get(section) or {}, run):
        dataset = values["data"]["dataset"]
        log.info("%s: %s.%s replaces %s (set %s.%s.KEY to change them for %s)", path, PER_DATASET, dataset,
                 ", ".join(f"{section}.{key} {own!r} with {value!r}" for key, (own, value) in replaced.items()),
                 PER_DATASET, f"{dataset}.{section}", dataset)
    return config


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict (params, metrics) as dotted keys: {"train": {"lr": 0.1}} -> {"train.lr": 0.1}."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
