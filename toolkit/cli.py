"""What the command-line tools share: reading `task=... key=value` words and reporting errors."""

from __future__ import annotations

import inspect
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from omegaconf import DictConfig, OmegaConf

from toolkit import tasks
from toolkit.config import parse_overrides
from toolkit.errors import ToolkitError
from toolkit.tasks.base import Task


def task_and_config(words: Sequence[str]) -> tuple[Task, DictConfig]:
    """Find `task=NAME` among the words and check the rest against that task's settings."""
    names = [w.split("=", 1)[1] for w in words if w.startswith("task=")]
    task = tasks.get(names[-1] if names else None)
    config = parse_overrides(words, task.Config)
    config.task = task.name
    if config.model not in task.models:
        raise ToolkitError(f"Task '{task.name}' has no model '{config.model}'. Models: {', '.join(task.models)}.")
    return task, config


def setting_meanings(schema: type) -> dict[str, str]:
    """Each setting's one-line meaning: the comment beside its field in the config dataclasses (base first)."""
    meanings: dict[str, str] = {}
    for cls in reversed(schema.__mro__[:-1]):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for name, comment in re.findall(r"^\s+(\w+): [^=\n]+=.*?#\s*(.+)$", source, flags=re.MULTILINE):
            meanings[name] = comment.strip()
    return meanings


def task_help(task: Task) -> str:
    """`task=NAME --help`: the task's summary, models and every setting with its default and meaning."""
    defaults = OmegaConf.structured(task.Config)
    meanings = setting_meanings(task.Config)
    rows = [(f"{key}={_as_word(value)}", meanings.get(key, "")) for key, value in defaults.items() if key != "task"]
    width = max(len(setting) for setting, _ in rows)
    lines = [f"{task.name}: {task.summary}", f"models: {', '.join(task.models)}", "settings (default, meaning):"]
    return "\n".join(lines + [f"  {setting.ljust(width)}  {meaning}" for setting, meaning in rows])


def _as_word(value: Any) -> str:
    """A default as one would type it in a key=value override."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if OmegaConf.is_list(value):
        return "[" + ",".join(map(str, value)) + "]"
    return str(value)


def main_wrapper(main: Callable[[Sequence[str]], Any], usage: str) -> None:
    """Run `main(sys.argv[1:])`; print a user error as one message (exit 2), Ctrl-C as exit 130."""
    words = sys.argv[1:]
    if any(w in ("-h", "--help", "help") for w in words):
        named = [w.split("=", 1)[1] for w in words if w.startswith("task=")]
        try:
            print(task_help(tasks.get(named[-1])) if named else f"{usage}\nTasks: {', '.join(tasks.names())}")
        except ToolkitError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        sys.exit(0)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops as cleanly as Ctrl-C
    try:
        main(words)
    except ToolkitError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        sys.exit(130)


# Set by SIGTERM. The KeyboardInterrupt the handler raises lands wherever Python happens to be, and there it can be
# swallowed (inside a __del__ or a library's cleanup: a CI run once trained on to the end after a SIGTERM), so the
# trainer also checks this between batches (toolkit.train.StopWhenSignalled).
STOP_REQUESTED = threading.Event()


def _interrupt(signum: int, frame: Any) -> None:
    STOP_REQUESTED.set()
    raise KeyboardInterrupt


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain text table; floats with 2 decimals (4 for values below 1)."""
    if not rows:
        return "(no results)"
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}" if abs(value) < 1 else f"{value:.2f}"
        return "" if value is None else str(value)

    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:  # first column left-aligned, figures right-aligned
        return "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths)))

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def dump_config(config: DictConfig) -> str:
    return OmegaConf.to_yaml(config)
