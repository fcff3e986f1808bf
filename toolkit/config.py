"""Run settings: typed defaults per task, overridden by `key=value` words on the command line.

Each task declares a dataclass derived from `RunConfig`; OmegaConf checks the overrides
against it, so a misspelt key or a value of the wrong type is caught before any work starts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from toolkit.errors import ConfigError


@dataclass
class RunConfig:
    """Settings shared by every task (training and evaluation)."""

    task: str = ""
    model: str = ""  # the model variant; each task sets its default
    epochs: int = 10  # passes over the training data
    batch_size: int = 128  # examples per training step (the global batch when distributed)
    learning_rate: float = 1e-3  # the optimizer's (peak) learning rate
    seed: int = 0  # seeds Python, NumPy and the backend: the same seed gives the same run
    limit: int | None = None  # use only the first N training and N test examples (quick runs, tests)
    data_dir: str | None = None  # overrides $TOOLKIT_DATA and ../shared/data
    source: str = "files"  # files: the data directory; tfds: tensorflow-datasets into <data dir>/tfds (online once)
    run_dir: str | None = None  # default: runs/<task>/<time>/
    resume: bool = False  # continue the interrupted run in run_dir (default: the latest one)
    backup_every: int = 0  # also back up every N steps, so a kill mid-epoch loses little; 0 = per epoch
    init: str | None = None  # start from the weights of this .keras file (same network), e.g. a shipped model
    out: str | None = None  # folder that receives the final <artifact>.keras and its card
    model_path: str | None = None  # evaluate: the model to measure (default: the shipped one)
    json: str | None = None  # evaluate: also write the results to this JSON file
    verbose: int = 1  # 1 = progress bar, 2 = one line per epoch, 0 = silent
    precision: str = "auto"  # Keras dtype policy: auto (fastest here), float32, mixed_bfloat16 or mixed_float16
    distribute: str = "none"  # "data_parallel": split each batch over all local devices (toolkit.distribute)


def require_choice(key: str, value: str, choices: Sequence[str]) -> None:
    """Refuse a setting whose value is not one of `choices`, naming them."""
    if value not in choices:
        raise ConfigError(f"{key}={value}: choose {' or '.join(choices)}.")


def parse_overrides(words: Sequence[str], schema: type[RunConfig]) -> DictConfig:
    """Merge `key=value` words into the typed defaults of `schema`."""
    bad = [w for w in words if "=" not in w or w.startswith("=")]
    if bad:
        raise ConfigError(f"Overrides are key=value words; cannot read {bad}. {_valid_keys(schema)}")
    try:
        overrides = OmegaConf.from_dotlist(list(words))
    except OmegaConfBaseException as err:
        raise ConfigError(f"Cannot parse overrides {list(words)}: {err}") from err
    config = OmegaConf.structured(schema)
    try:
        return OmegaConf.merge(config, overrides)
    except ConfigKeyError as err:
        raise ConfigError(f"Unknown setting '{err.key}'. {_valid_keys(schema)}") from err
    except ValidationError as err:
        expected = schema.__dataclass_fields__[err.key].type if err.key in schema.__dataclass_fields__ else "?"
        raise ConfigError(f"Bad value for '{err.key}': {err.msg.splitlines()[0]} (expected {expected}).") from err


def _valid_keys(schema: type[RunConfig]) -> str:
    defaults = OmegaConf.structured(schema)
    return "Valid keys: " + ", ".join(f"{k}={v}" for k, v in defaults.items())


def to_dict(config: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(config, resolve=True)  # type: ignore[return-value]
