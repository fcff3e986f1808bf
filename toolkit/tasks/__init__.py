"""The task registry: every module in this package that defines `TASK` is a task."""

from __future__ import annotations

import importlib
import pkgutil

from toolkit.errors import ConfigError
from toolkit.task import Task

COURSE_ORDER = ("digits", "objects", "denoising", "transfer", "separation", "inpainting")  # as the course teaches them
_TASKS: dict[str, Task] = {}
for _info in pkgutil.iter_modules(__path__):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    if isinstance(getattr(_module, "TASK", None), Task):
        _TASKS[_module.TASK.name] = _module.TASK


def names() -> list[str]:
    """Task names in the course's order; tasks added later follow alphabetically."""
    rank = {name: i for i, name in enumerate(COURSE_ORDER)}
    return sorted(_TASKS, key=lambda name: (rank.get(name, len(rank)), name))


def get(name: str | None) -> Task:
    """The task called `name`; a clear error listing the tasks otherwise."""
    if not name:
        raise ConfigError(f"Say which task: task=NAME, one of {', '.join(names())}.")
    if name not in _TASKS:
        raise ConfigError(f"Unknown task '{name}'. Tasks: {', '.join(names())}.")
    return _TASKS[name]
