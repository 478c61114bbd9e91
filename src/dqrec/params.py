"""The config tree: every section of ``params.yaml`` is one frozen dataclass of the library, read by one generic
function (``dqrec.configtree``). The dataclasses hold the defaults; ``params.yaml`` states them for DVC and users,
and a test keeps the two equal key by key. Stages read only their own sections (``configtree.load_section``), so
that a stage's code deps stay its own; this module is the whole tree, for tools and tests."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dqrec.cf.fit import TrainConfig
from dqrec.configtree import ConfigError, check_dataset_keys, for_dataset, from_section, read_params_file, to_section
from dqrec.data.ingest import IngestConfig
from dqrec.data.split import SplitConfig
from dqrec.evaluate.report import EvaluateConfig
from dqrec.quantize.compare import QuantizeConfig
from dqrec.quantize.svd import SvdConfig
from dqrec.represent.pretrain import PretrainConfig
from dqrec.training import TrainerConfig


@dataclass(frozen=True)
class Params:
    data: IngestConfig = field(default_factory=IngestConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    svd: SvdConfig = field(default_factory=SvdConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def section_classes() -> dict[str, type]:
    """Section name -> its config class, in params.yaml's order."""
    hints = typing.get_type_hints(Params)
    return {f.name: hints[f.name] for f in dataclasses.fields(Params)}


def load_params(path: Path = Path("params.yaml")) -> Params:
    """Every section of a params file, with the ``datasets`` entry of its ``data.dataset`` applied; an unknown
    section or key, in any dataset's entry too, is refused by name."""
    values = read_params_file(path)
    try:
        for name, cls in section_classes().items():
            check_dataset_keys(values, name, cls)  # every dataset's keys, not only those of the dataset that runs
        sections = for_dataset(values)
        return Params(**{name: from_section(cls, sections.get(name), name) for name, cls in section_classes().items()})
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def params_to_mapping(params: Params) -> dict[str, dict[str, Any]]:
    """The flat mapping of every section (what params.yaml would say to give ``params``)."""
    return {name: to_section(getattr(params, name)) for name in section_classes()}
