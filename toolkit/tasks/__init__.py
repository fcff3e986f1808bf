"""The task registry: every module in this package except `base` is a task adapter that defines `TASK`.

Adapters are imported on first use, so naming the tasks (the CLI's help, an error message) loads no model code.
"""

from __future__ import annotations

import importlib
import pkgutil

from toolkit.errors import ConfigError
from toolkit.tasks.base import Task

COURSE_ORDER = ("digits", "objects", "denoising", "transfer", "separation", "inpainting")  # as the course teaches them
_NOT_TASKS = {"base"}


def names() -> list[str]:
    """Task names in the course's order; tasks added later follow alphabetically."""
    found = [info.name for info in pkgutil.iter_modules(__path__) if info.name not in _NOT_TASKS]
    rank = {name: i for i, name in enumerate(COURSE_ORDER)}
    return sorted(found, key=lambda name: (rank.get(name, len(rank)), name))


def get(name: str | None) -> Task:
    """The task called `name`; a clear error listing the tasks otherwise."""
    if not name:
        raise ConfigError(f"Say which task: task=NAME, one of {', '.join(names())}.")
    if name not in names():
        raise ConfigError(f"Unknown task '{name}'. Tasks: {', '.join(names())}.")
    task = importlib.import_module(f"{__name__}.{name}").TASK
    assert isinstance(task, Task) and task.name == name, f"toolkit/tasks/{name}.py must define TASK = <its Task>"
    return task
