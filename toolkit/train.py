"""`python -m toolkit.train task=NAME key=value ...`: train a task's model in a resumable run directory.

A run lives in `runs/<task>/<time>/`: config.yaml, log.csv, best.keras (best validation checkpoint),
backup/ (Keras BackupAndRestore state while the run is unfinished) and, at the end, model.keras and
metrics.json. `resume=true` continues the latest unfinished run; `out=trained/` also writes the
final model and its card there (`resume=true run_dir=<run> out=trained/` ships a run that finished without it).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from omegaconf import DictConfig, OmegaConf

from toolkit import saving
from toolkit.card import make_card
from toolkit.cli import STOP_REQUESTED, dump_config, format_table, main_wrapper, task_and_config
from toolkit.distribute import (
    batches_for_process,
    callbacks_for_process,
    distribution_scope,
    is_chief,
    on_this_process,
)
from toolkit.errors import ToolkitError
from toolkit.precision import resolve_precision
from toolkit.tasks.base import Evaluation, Task

USAGE = """usage: python -m toolkit.train task=NAME [key=value ...]
  e.g. python -m toolkit.train task=digits model=lenet5 epochs=3 batch_size=128
  resume=true continues the latest interrupted run of the task; out=trained/ ships the result."""

RUNS_ROOT = Path("runs")


class BestCheckpoint(keras.callbacks.Callback):
    """Keep the best model so far (by `monitor`), written atomically.

    A resumed run starts from the best value in the run's log, so it never replaces a better checkpoint.
    """

    def __init__(self, path: Path, monitor: str, log: Path):
        super().__init__()
        self.path, self.monitor = path, monitor
        self.sign = -1 if monitor.endswith(("accuracy", "psnr")) else 1
        rows = csv.DictReader(log.read_text().splitlines()) if log.exists() else []
        logged = [float(row[monitor]) for row in rows if row.get(monitor)]
        self.best = min(logged, key=lambda v: self.sign * v) if logged and path.exists() else self.sign * math.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and self.sign * value < self.sign * self.best:
            self.best = value
            saving.save_model(self.model, self.path)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, but each backup replaces the previous one atomically.

    Keras writes the backup in place, so a kill during a write (likely with `backup_every=` small)
    leaves a file that cannot be restored; here the previous backup stays until the new one is complete.
    """

    def _save_model(self):
        saving.save_weights(self.model, self._weights_path)
        saving.write_json({"epoch": self._current_epoch, "batch": self._last_batch_seen}, self._training_metadata_path)


class RunClock(keras.callbacks.Callback):
    """Training time of the whole run, across interruptions: kept in `clock.json` in the run folder.

    A resumed run adds its own time to what the earlier parts spent, so the card states what the run cost.
    `chain_training_seconds` adds the runs its start (`init=`) came from, so a run stopped early and warm-started
    from (its best.keras) still passes on the whole chain's cost.
    """

    def __init__(self, path: Path, resumed: bool, earlier_runs: float = 0.0):
        super().__init__()
        self.path, self.earlier_runs = path, earlier_runs
        saved = json.loads(path.read_text()) if resumed and path.exists() else {}
        self.before, self.parts = saved.get("seconds", 0.0), saved.get("parts", 0) + 1
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.start

    @property
    def chain_seconds(self) -> float:
        return self.seconds + self.earlier_runs

    def on_epoch_end(self, epoch, logs=None):
        times = {"seconds": round(self.seconds, 1), "chain_training_seconds": round(self.chain_seconds, 1)}
        saving.write_json({**times, "parts": self.parts}, self.path)


def fit_batchnorm_momentum(model: keras.Model, total_steps: int) -> None:
    """Let BatchNormalization's moving statistics follow the last ~tenth of a short run (at most: never slower).

    Keras' default momentum 0.99 averages the last ~100 steps' batch statistics with a start at mean 0 / variance 1
    that fades only after several hundred steps, so a run of a few hundred steps is evaluated with statistics that
    lag far behind its weights: a 75-step CNN run fitted 96 % of its training images and scored 19 % in inference
    (tests/test_frame.py; 100 % with this cap). A momentum of 1 - 10 / steps leaves long runs as they were.
    """
    ceiling = 1 - 10 / max(total_steps, 20)
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        stack += getattr(layer, "layers", [])
        if isinstance(layer, keras.layers.BatchNormalization) and layer.momentum > ceiling:
            layer.momentum = ceiling


@dataclass
class TrainResult:
    model: keras.Model
    evaluation: Evaluation | None  # None in the processes of a multi-process job other than 0: they do not evaluate
    run_dir: Path
    card: dict


def without_training_state(model: keras.Model) -> keras.Model:
    """The same layers and weights, uncompiled: a shipped file needs no optimizer state (2/3 of its size).

    Functional models are re-wrapped; others (custom `train_step` models such as the DCGAN) are rebuilt from their
    config and given the weights.
    """
    try:
        return keras.Model(model.inputs, model.outputs, name=model.name)
    except (AttributeError, ValueError, TypeError):
        copy = model.__class__.from_config(model.get_config())
        copy.set_weights(model.get_weights())
        return copy


def start_from(model: keras.Model, path: str) -> dict[str, str | float]:
    """Copy the weights of the model in `path` into `model` (fine-tuning a shipped model, a warm restart).

    Returns the file's name and SHA-256 for the card: `trained/` files change, the card must say which one it was;
    and, where a card lies beside the file, the training time of the whole chain that made it.
    """
    origin = {"file": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    # shipped, a finished run's card, or the clock of a run stopped early (its best.keras)
    cards = [Path(path).with_suffix(".json"), Path(path).parent / "metrics.json", Path(path).parent / "clock.json"]
    card = next((card for card in cards if card.is_file()), None)
    if card:
        earlier = json.loads(card.read_text())
        spent = earlier.get("training_seconds", earlier.get("seconds", 0))  # a card's, or a run clock's
        origin["chain_training_seconds"] = earlier.get("chain_training_seconds", spent)
    source = saving.load_model(path)
    theirs, ours = [w.shape for w in source.weights], [w.shape for w in model.weights]
    if theirs != ours:
        raise ToolkitError(
            f"init={path} holds a different network ({len(theirs)} weights, {source.count_params():,} parameters) "
            f"than the one configured here ({len(ours)} weights, {model.count_params():,} parameters). "
            "Use the same model settings as the run that made it (see its card)."
        )
    model.set_weights(source.get_weights())
    return origin


def resolve_run_dir(task: Task, config: DictConfig) -> Path:
    """The run's folder: given, the latest unfinished one (resume), or a new timestamped one."""
    if config.run_dir:
        return Path(config.run_dir)
    task_runs = RUNS_ROOT / task.name
    if config.resume:
        unfinished = sorted(p.parent for p in task_runs.glob("*/backup"))
        finished = sorted(p.parent for p in task_runs.glob("*/metrics.json"))
        if not unfinished and not finished:
            raise ToolkitError(f"resume=true, but there is no run of '{task.name}' in {task_runs}/ to continue.")
        return (unfinished or finished)[-1]  # a finished one only to say that there is nothing left to do
    return task_runs / time.strftime("%Y%m%d-%H%M%S")


def is_finished(run_dir: Path) -> bool:
    """A run that wrote its model and card and holds no backup to continue from."""
    return (run_dir / "metrics.json").is_file() and not (run_dir / "backup").exists()


class StopWhenSignalled(keras.callbacks.Callback):
    """Stop at the next batch once a SIGTERM came, even if the KeyboardInterrupt it raised was swallowed."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if STOP_REQUESTED.is_set():
            raise KeyboardInterrupt


def ship(task: Task, config: DictConfig, model: keras.Model, card: dict) -> None:
    """Write the model (without its optimizer state) and its card to `out=` under the task's artifact name."""
    saving.save_model_and_card(without_training_state(model), card, Path(config.out) / task.artifact(config))


def finished_run(task: Task, config: DictConfig, run_dir: Path) -> TrainResult:
    """`resume=true` on a run that finished: nothing to train; its model and card, and what to do to train longer.

    A finished run is not extended to a larger `epochs`: its learning-rate schedule has decayed to its end, and
    stretching it would change the run it already is. A new run that starts from its model (`init=`) does that,
    and its card adds this run's training time to its own. With `out=`, the run ships as it is (a run started
    without `out=trained/` need not train again to ship).
    """
    card = json.loads((run_dir / "metrics.json").read_text())
    done = card.get("config", {}).get("epochs")
    print(f"Run {run_dir} has finished ({done} epochs): nothing to resume. Model: {run_dir / 'model.keras'}")
    model = saving.load_model(run_dir / "model.keras")
    if config.out:
        ship(task, config, model, card)
        print(f"Shipped to {config.out} as {task.artifact(config)}")
    if done is not None and config.epochs > done:
        print(
            f"To train it further, start a new run from its model: python -m toolkit.train task={task.name} "
            f"init={run_dir / 'model.keras'} epochs={config.epochs - done} (with the same model settings)"
        )
    return TrainResult(model, None, run_dir, card)


def forget_epochs_to_redo(log: Path, backup: Path) -> None:
    """Drop the log rows of the epochs a resumed run trains again (from its backup's epoch on), so none appears twice.

    A run killed after an epoch's log line but before its backup, or backed up mid-epoch (`backup_every=`),
    restarts that epoch.
    """
    metadata = backup / "training_metadata.json"
    if not (log.is_file() and metadata.is_file()):
        return
    restart = json.loads(metadata.read_text())["epoch"]
    lines = log.read_text().splitlines(keepends=True)
    kept = lines[:1] + [line for line in lines[1:] if int(line.split(",", 1)[0]) < restart]
    if len(kept) < len(lines):
        saving.write_atomically(log, ".tmp", lambda tmp: tmp.write_text("".join(kept)))


def prepare(words: Sequence[str]) -> tuple[Task, DictConfig, Path]:
    """Task, settings and run folder; a resumed run takes its saved settings, then the new words."""
    task, config = task_and_config(words)
    run_dir = resolve_run_dir(task, config)
    saved = run_dir / "config.yaml"
    if config.resume and saved.exists():
        earlier = OmegaConf.to_container(OmegaConf.load(saved))
        for old, new in task.renamed_settings.items():  # a run saved before a setting was renamed
            if old in earlier:
                earlier[new] = earlier.pop(old)
        config = OmegaConf.merge(config, earlier, OmegaConf.from_dotlist(list(words)))
    config.run_dir = str(run_dir)  # tasks that write into the run folder (sample grids, figures) find it here
    config.precision = resolve_precision(config.precision)  # the card says what "auto" chose on this machine
    return task, config, run_dir


def train(words: Sequence[str]) -> TrainResult:
    chief = is_chief()  # first: the processes of a JAX job connect before any JAX computation (e.g. precision=auto)
    task, config, run_dir = prepare(words)
    if config.resume and is_finished(run_dir):
        return finished_run(task, config, run_dir)
    if not config.resume and (run_dir / "config.yaml").exists():
        raise ToolkitError(
            f"{run_dir} already holds a run. Continue it with resume=true, or give another run_dir "
            "(a second run there would mix its log and best checkpoint with the first one's)."
        )
    keras.utils.set_random_seed(config.seed)
    data = task.data(config)
    with distribution_scope(config.distribute) as replicas:
        model = task.build(config)
        started_from = start_from(model, config.init) if config.init else None  # a resumed run restores on top
        if not config.init:  # a warm start keeps what its model learnt from data; a resumed run restores it
            task.initialize(model, data, config)
        if chief:  # only now, so missing data or a bad setting leaves no empty run folder behind
            run_dir.mkdir(parents=True, exist_ok=True)  # in a multi-process job, process 0 alone writes it
            (run_dir / "config.yaml").write_text(dump_config(config))
            if config.verbose:
                print(f"Run directory: {run_dir}")
        callbacks = [
            AtomicBackupAndRestore(run_dir / "backup", save_freq=config.backup_every or "epoch"),
            keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=True),
            keras.callbacks.TerminateOnNaN(),
            StopWhenSignalled(),
        ]
        best = run_dir / "best.keras"
        if task.monitor and data.val is not None:
            callbacks.append(BestCheckpoint(best, task.monitor, run_dir / "log.csv"))
        earlier_runs = started_from.get("chain_training_seconds", 0) if started_from else 0
        clock = RunClock(run_dir / "clock.json", resumed=config.resume, earlier_runs=earlier_runs)
        callbacks.append(clock)
        data.train = batches_for_process(data.train, config.batch_size, replicas, shuffle_seed=config.seed)
        data.val = batches_for_process(data.val, config.batch_size, replicas)
        steps = len(data.train)  # this process's batches per epoch
        if config.resume:
            forget_epochs_to_redo(run_dir / "log.csv", run_dir / "backup")
        fit_batchnorm_momentum(model, steps * config.epochs)
        task.compile(model, config, steps)
        try:
            history = task.fit(model, data, config, callbacks_for_process(callbacks))
        except KeyboardInterrupt:
            print(f"\nStopped. Continue with: python -m toolkit.train task={task.name} resume=true run_dir={run_dir}")
            raise
    seconds = clock.seconds
    losses = history.history.get("loss", [])
    if losses and not np.isfinite(losses[-1]):
        raise ToolkitError(
            f"Training stopped: the loss became {losses[-1]} in epoch {len(losses)}. "
            f"Try a lower learning_rate (now {config.learning_rate}). Run folder: {run_dir}"
        )
    if not chief:  # the job's other processes lent their devices to fit; process 0 reports
        return TrainResult(model, None, run_dir, {})
    model = task.shipping_model(saving.load_model(best) if best.exists() else on_this_process(model), config)

    evaluation = task.evaluate(model, config)
    saving.save_model(model, run_dir / "model.keras")
    # the words this run was given, not sys.argv: a bench that calls train() passes its own recipe's words
    card = make_card(task, config, model, data, evaluation, seconds, " ".join(["python -m toolkit.train", *words]))
    card["training_parts"] = clock.parts  # 1 + the number of times the run was resumed
    if started_from:
        card["started_from"] = started_from
        card["chain_training_seconds"] = round(seconds + clock.earlier_runs, 1)  # seconds: read when fit ended
    saving.write_json(card, run_dir / "metrics.json")
    if config.out:
        ship(task, config, model, card)
    if config.verbose:
        print(format_table(evaluation.table))
        print(f"Model: {run_dir / 'model.keras'}" + (f"; shipped to {config.out}" if config.out else ""))
    return TrainResult(model, evaluation, run_dir, card)


if __name__ == "__main__":
    main_wrapper(train, USAGE)
