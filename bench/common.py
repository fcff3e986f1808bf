"""Shared pieces of the benchmarks: timing, machine description, result files."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

from toolkit import saving
from toolkit.card import hardware

RESULTS = Path(__file__).parent / "results"


def best_time(fn: Callable[[], Any], repeats: int = 5) -> float:
    """The fastest of `repeats` calls, in seconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch; the fastest one excludes tracing and compilation of the first."""

    def on_train_begin(self, logs=None):
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def write_results(name: str, rows: list[dict[str, Any]], notes: str = "") -> Path:
    """bench/results/<name>.json (rows + machine) and a Markdown table beside it."""
    result = {
        "benchmark": name,
        "backend": keras.backend.backend(),
        "hardware": hardware(),
        "rows": rows,
        "date": time.strftime("%Y-%m-%d"),
        "notes": notes,
    }
    saving.write_json(result, RESULTS / f"{name}.json")
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_fmt(row[c]) for c in columns) + " |" for row in rows]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    return RESULTS / f"{name}.json"


def _fmt(value: Any) -> str:
    return f"{value:,.4g}" if isinstance(value, float) else str(value)
