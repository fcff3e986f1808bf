"""Separation: singing voice vs accompaniment with a deep recurrent soft-mask network (Huang et al. 2014).

Data: a corpus rendered from Bach chorales, the melodies mostly sung by Festival's voices of recorded
speakers (`python -m toolkit.separation.render`; the first training run renders it if it is missing, as
tensorflow-datasets prepares a data set on first use), or MIR-1K / MUSDB18-HQ in their official layouts
(`dataset=mir1k`, `dataset=musdb`). Training reads random 2-second windows of mixture magnitudes (16 kHz,
1024-point STFT, hop 512) and the two source magnitudes.
Models (toolkit/separation/model.py): `drnn` (the paper's DRNN-2), `srnn` (all layers recurrent), `bigru`.
Evaluation: BSS-eval GNSDR/GSIR/GSAR of the voice on test clips, beside the mixture, REPET-SIM and the
ideal ratio mask measured on the same clips; on the rendered corpus twice, with the voices heard in
training and with voices held out of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit.config import RunConfig
from toolkit.separation import data as sep_data
from toolkit.separation.evaluation import ideal_ratio_mask, mixture_baseline, repet_sim, score_clips
from toolkit.separation.model import DiscriminativeLoss, build_bigru, build_drnn
from toolkit.separation.predict import separate
from toolkit.separation.stft import HOP, N_FFT, SAMPLE_RATE
from toolkit.tasks.base import Data, Evaluation, Task


@dataclass
class SeparationConfig(RunConfig):
    model: str = "drnn"
    dataset: str = "rendered"  # rendered (the corpus in corpus_dir) | mir1k | musdb (in the data directory)
    corpus_dir: str | None = None  # the rendered corpus (default .cache/separation/rendered)
    corpus_hours: float = 2.0  # audio the first run renders if the corpus is missing
    corpus_seconds: float = 30.0  # each rendered piece is cut to this length
    epochs: int = 40
    steps_per_epoch: int = 100  # training steps per epoch (random windows of the corpus)
    batch_size: int = 64  # windows per step
    window_frames: int = 64  # frames per training window (2 s)
    learning_rate: float = 1e-3
    hidden: int = 512  # units per hidden layer (the paper: 1000; smaller for CPU training)
    recurrent_layer: int = 2  # drnn: the recurrent layer (1-3), the paper's best is 2
    context: int = 1  # frames of context on each side of the input frame
    gamma: float = 0.05  # weight of the discriminative term (0: joint MSE)
    shifts: int = 0  # circular-shift remixes per training clip (the paper's MIR-1K augmentation)
    eval_clips: int = 16  # test clips scored by BSS-eval (slow: about 2 s of CPU per clip and method)
    eval_seconds: float = 15.0  # the first seconds of each scored clip


def build_drnn_model(config: DictConfig) -> keras.Model:
    return build_drnn(config.hidden, (config.recurrent_layer,), context=config.context)


def build_srnn_model(config: DictConfig) -> keras.Model:
    return build_drnn(config.hidden, (1, 2, 3), context=config.context, name="srnn")


def build_bigru_model(config: DictConfig) -> keras.Model:
    return build_bigru(config.hidden)


def ensure_corpus(config: DictConfig) -> None:
    """Render the corpus on first use (progress bar; an interrupted render resumes; the same corpus as the
    render command with its defaults), so `python -m toolkit.train task=separation` just works."""
    if config.dataset != "rendered" or not sep_data.needs_rendering(config.corpus_dir):
        return
    from toolkit.separation.render import render_corpus

    root = sep_data.corpus_root(config.corpus_dir)
    print(f"No rendered separation corpus in {root}: rendering {config.corpus_hours:g} h of it (once; resumable).")
    render_corpus(root, config.corpus_hours, config.corpus_seconds, progress=bool(config.verbose), resume=True)


def corpus_summary(manifest: dict) -> dict:
    """What the card says of a rendered corpus: who sings, how much, and what rendering it cost."""
    singers = [p["singer"] for p in manifest["pieces"] if p["split"] == "train"]
    return {
        "version": manifest["version"],
        "render_command": "python -m toolkit.separation.render",
        "render_seconds": manifest["render_seconds"],
        "hours": manifest["hours"],
        "festival_voices": manifest["festival_voices"],
        "train_pieces_by_festival_voice": sum(not s.startswith("gm:") for s in singers),
        "train_pieces_by_gm_patch": sum(s.startswith("gm:") for s in singers),
        "skipped_pieces": len(manifest["skipped"]),
    }


TEST_GROUPS = {"test": "seen voices", "test_unseen": "unseen voices"}  # split -> who sings, in the table


def test_excerpts(config: DictConfig) -> dict[str, list[sep_data.Clip]]:
    """The fixed clips BSS-eval scores, per test split present: the first `eval_seconds` of the first
    `eval_clips` clips. `test_unseen` (the rendered corpus only) holds voices never heard in training."""
    count = min(config.limit or config.eval_clips, config.eval_clips)
    n = int(config.eval_seconds * SAMPLE_RATE)
    splits = sep_data.rendered_test_splits(config.corpus_dir) if config.dataset == "rendered" else ["test"]
    groups = {}
    for split in splits:
        clips = sep_data.load_clips(config.dataset, split, config.data_dir, config.corpus_dir, count)
        groups[split] = [sep_data.Clip(c.name, c.vocals[:n], c.accompaniment[:n], c.singer) for c in clips]
    return groups


class Separation(Task):
    name = "separation"
    summary = "Singing-voice separation: deep recurrent soft-mask network with a discriminative loss (Huang 2014)"
    Config = SeparationConfig
    models = {"drnn": build_drnn_model, "srnn": build_srnn_model, "bigru": build_bigru_model}
    metric = "gnsdr"
    metric_label = "GNSDR (dB)"
    renamed_settings = {"data": "dataset"}  # before #33 the data set setting was data=
    contract = (
        f"input: mixture STFT magnitudes (batch, frames, {N_FFT // 2 + 1}) float32 (16 kHz mono, {N_FFT}-point "
        f"Hann window, hop {HOP}); output: (batch, frames, {N_FFT // 2 + 1}, 2) vocals and accompaniment "
        "magnitudes that sum to the input. Use toolkit.separation.separate(path_or_array, sr) for audio."
    )

    def data(self, config: DictConfig) -> Data:
        ensure_corpus(config)
        train, valid = (
            sep_data.load_clips(config.dataset, split, config.data_dir, config.corpus_dir, config.limit)
            for split in ("train", "valid")
        )
        if config.shifts:
            train = sep_data.circular_shift_mixes(train, config.shifts)
        windows = dict(batch_size=config.batch_size, frames=config.window_frames, seed=config.seed)
        train_set = sep_data.SpectrogramWindows(train, steps=config.steps_per_epoch, shuffle=True, **windows)
        val_set = sep_data.SpectrogramWindows(
            valid, steps=max(1, config.steps_per_epoch // 10), shuffle=False, **windows
        )
        info = {
            "name": config.dataset,
            "train_clips": len(train),
            "valid_clips": len(valid),
            "train_hours": round(train_set.hours, 3),
            "valid_hours": round(val_set.hours, 3),
            "sample_rate": SAMPLE_RATE,
            "n_fft": N_FFT,
            "hop": HOP,
        }
        manifest = sep_data.rendered_manifest(config.corpus_dir) if config.dataset == "rendered" else None
        if manifest:
            info["corpus"] = corpus_summary(manifest)
        return Data(train_set, val_set, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        """Adam with cosine decay and gradient clipping: ReLU recurrences can blow up early in training."""
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps_per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=DiscriminativeLoss(config.gamma))

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        def network(clip: sep_data.Clip) -> tuple[np.ndarray, np.ndarray]:
            stems = separate(clip.mixture, SAMPLE_RATE, model=model)
            return stems["vocals"], stems["accompaniment"]

        methods = {
            model.name: network,
            "REPET-SIM": lambda c: repet_sim(c.mixture),
            "ideal ratio mask (oracle)": ideal_ratio_mask,
            "mixture": lambda c: mixture_baseline(c.mixture),
        }
        metrics, table, per_clip = {}, [], {}
        for split, clips in test_excerpts(config).items():
            results = score_clips(clips, methods, progress=bool(config.verbose))
            suffix = "" if split == "test" else "_unseen"
            ours = results[model.name]
            metrics.update({f"{key}{suffix}": ours[key] for key in ("gnsdr", "gsir", "gsar")})
            metrics[f"test_clips{suffix}"] = len(clips)
            metrics[f"test_seconds{suffix}"] = round(sum(c.seconds for c in clips), 1)
            table += [
                {
                    "method": name,
                    "voices": TEST_GROUPS[split],
                    "clips": len(clips),
                    "GNSDR (dB)": r["gnsdr"],
                    "GSIR (dB)": r["gsir"],
                    "GSAR (dB)": r["gsar"],
                }
                for name, r in results.items()
            ]
            singers = {c.name: c.singer for c in clips}
            per_clip[split] = {
                name: [{**row, "singer": singers[row["name"]]} for row in r["clips"]] for name, r in results.items()
            }
        details = {"per_clip": per_clip, "paper_mir1k": {"gnsdr": 7.45, "gsir": 13.08, "gsar": 9.68}}
        return Evaluation(metrics, table, details)


TASK = Separation()
