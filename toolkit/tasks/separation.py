"""Separation: singing voice vs accompaniment with a deep recurrent soft-mask network (Huang et al. 2014).

Data: a corpus rendered from Bach chorales, the melodies mostly sung by Festival's voices of recorded
speakers (`python -m toolkit.separation.render`; the first training run renders it if it is missing, as
tensorflow-datasets prepares a data set on first use), real singing from MIR-1K (`dataset=mir1k`: singers abjones
and amy train, annar and tammy validate), both (`dataset=mir1k+rendered`, `rendered_share=` of each batch), or
MUSDB18-HQ (`dataset=musdb`). Training reads random 2-second windows of mixture magnitudes (16 kHz, 1024-point
STFT, hop 512) and the two source magnitudes; with MIR-1K, each window is remixed at random (`augment=`).
Models (toolkit/separation/model.py): `drnn` (the paper's DRNN-2), `srnn` (all layers recurrent), `bigru`.
Evaluation: BSS-eval GNSDR/GSIR/GSAR of the voice on test clips, beside the mixture, REPET-SIM and the
ideal ratio mask measured on the same clips: on MIR-1K's dev singers (or, `eval_split=test`, every other singer
of a full copy), or on the rendered corpus twice, with the voices heard in training and with voices held out.
Where MIR-1K is present, `python -m toolkit.train task=separation` trains on it and `evaluate` scores its dev
singers; elsewhere both use the rendered corpus.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from omegaconf import DictConfig

from toolkit.config import RunConfig, require_choice
from toolkit.data.paths import data_dir
from toolkit.errors import ConfigError
from toolkit.separation import data as sep_data
from toolkit.separation.evaluation import ideal_ratio_mask, mixture_baseline, repet_sim, score_clips
from toolkit.separation.model import DiscriminativeLoss, build_bigru, build_drnn
from toolkit.separation.predict import separate
from toolkit.separation.stft import HOP, N_FFT, SAMPLE_RATE
from toolkit.tasks.base import Data, Evaluation, Task


@dataclass
class SeparationConfig(RunConfig):
    model: str = "drnn"
    dataset: str = "auto"  # rendered | mir1k | mir1k+rendered | musdb; auto: MIR-1K where it is here, else rendered
    rendered_share: float = 0.5  # dataset=mir1k+rendered: the share of each training batch cut from the rendered corpus
    eval_split: str = "dev"  # MIR-1K: the singers scored, dev (annar, tammy) or test (all others, in a full copy)
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
    augment: bool | None = None  # remix training windows (snr_db ... speed_semitones); default: on with MIR-1K only
    snr_db: float = 5.0  # augment: each window's voice-to-music ratio moves by up to +-this (dB; MIR-1K is at 0 dB)
    gain_db: float = 6.0  # augment: each window's level moves by up to +-this (dB)
    remix: float = 0.5  # augment: the share of windows whose voice is heard over music from elsewhere in the data
    speed_semitones: float = 1.0  # augment: MIR-1K's clips also played this many semitones faster and slower (0: no)
    eval_clips: int | None = None  # clips scored per test group (default: 16; MIR-1K: all of them); ~2 s CPU each
    eval_seconds: float = 15.0  # the first seconds of each scored clip (MIR-1K's are all shorter)


def build_drnn_model(config: DictConfig) -> keras.Model:
    return build_drnn(config.hidden, (config.recurrent_layer,), context=config.context)


def build_srnn_model(config: DictConfig) -> keras.Model:
    return build_drnn(config.hidden, (1, 2, 3), context=config.context, name="srnn")


def build_bigru_model(config: DictConfig) -> keras.Model:
    return build_bigru(config.hidden)


TRAINING_DATASETS = ("rendered", "mir1k", "mir1k+rendered", "musdb")


def has_mir1k(config: DictConfig) -> bool:
    return (data_dir(config.data_dir) / "MIR-1K" / "Wavfile").is_dir()


def training_dataset(config: DictConfig) -> str:
    """The data set a run trains on: `dataset`, with auto meaning MIR-1K where it is present (real singing, what
    the shipped model trained on: it carries over to unseen singers best, bench/results/separation_models.md),
    else the rendered corpus, which the first run renders itself."""
    require_choice("dataset", config.dataset, ("auto", *TRAINING_DATASETS))
    if config.dataset == "auto":
        return "mir1k" if has_mir1k(config) else "rendered"
    return config.dataset


def evaluation_dataset(config: DictConfig) -> str:
    """The data set evaluate scores: MIR-1K for a model trained on MIR-1K and the rendered corpus (real singing is
    what it is for); for auto, MIR-1K where it is present (real singing, the paper's protocol, nothing to render),
    else the rendered corpus."""
    dataset = training_dataset(config)
    return "mir1k" if dataset == "mir1k+rendered" else dataset


def ensure_corpus(config: DictConfig, dataset: str) -> None:
    """Render the corpus on first use (progress bar; an interrupted render resumes; the same corpus as the
    render command with its defaults), so `python -m toolkit.train task=separation` just works."""
    if "rendered" not in dataset.split("+") or not sep_data.needs_rendering(config.corpus_dir):
        return
    from toolkit.separation.render import render_corpus

    root = sep_data.corpus_root(config.corpus_dir)
    print(f"No rendered separation corpus in {root}: rendering {config.corpus_hours:g} h of it (once; resumable).")
    render_corpus(root, config.corpus_hours, config.corpus_seconds, progress=bool(config.verbose), resume=True)


def hours(clips: list[sep_data.Clip]) -> float:
    return round(sum(c.seconds for c in clips) / 3600, 3)


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


TEST_GROUPS = {"test": "seen voices", "test_unseen": "unseen voices"}  # rendered split -> who sings, in the table
DEFAULT_EVAL_CLIPS = 16  # per group, where eval_clips is not set; MIR-1K: every clip of the split (the paper's)


def singers_label(dataset: str, split: str, clips: list[sep_data.Clip]) -> str:
    """Who sings a test group, for the table: the rendered corpus's voice group, or MIR-1K's singers."""
    if dataset == "rendered":
        return TEST_GROUPS[split]
    if dataset == "musdb":
        return "MUSDB18 test songs"
    singers = sorted({c.singer for c in clips})
    return f"MIR-1K {split}: {', '.join(singers)}" if len(singers) <= 4 else f"MIR-1K {split}: {len(singers)} singers"


def test_excerpts(config: DictConfig, dataset: str) -> dict[str, list[sep_data.Clip]]:
    """The fixed clips BSS-eval scores, per test group of `dataset`: the first `eval_seconds` of the first
    `eval_clips` clips. The rendered corpus: `test`, and `test_unseen` (voices never heard in training) where
    rendered; MIR-1K: the clips of the singers of `eval_split` (dev: annar and tammy), all of them unless
    `eval_clips` asks for fewer (then spread evenly over the split's clips); MUSDB18-HQ: `test`."""
    if dataset == "mir1k":
        require_choice("eval_split", config.eval_split, ("dev", "test"))
        splits = [config.eval_split]
        count = config.eval_clips  # every clip unless asked otherwise
    else:
        splits = sep_data.rendered_test_splits(config.corpus_dir) if dataset == "rendered" else ["test"]
        count = config.eval_clips or DEFAULT_EVAL_CLIPS
    if config.limit:
        count = min(count or config.limit, config.limit)
    n = int(config.eval_seconds * SAMPLE_RATE)
    groups = {}
    for split in splits:
        if dataset == "mir1k":  # clips spread evenly over the split, so that fewer clips still hear every singer
            clips = sep_data.load_mir1k(split, config.data_dir)
            clips = [clips[i] for i in np.linspace(0, len(clips) - 1, min(count or len(clips), len(clips)), dtype=int)]
        else:
            clips = sep_data.load_clips(dataset, split, config.data_dir, config.corpus_dir, count)
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
        f"Hann window, hop {HOP}); output: (batch, frames, {N_FFT // 2 + 1}, 2) float32 vocals and "
        "accompaniment magnitudes that sum to the input. Use toolkit.separation.separate(path_or_array, sr) for audio."
    )

    def data(self, config: DictConfig) -> Data:
        config.dataset = training_dataset(config)  # auto -> mir1k or rendered: config.yaml and the card say which
        if not 0 <= config.rendered_share <= 1:
            raise ConfigError(f"rendered_share={config.rendered_share}: a share of each batch, from 0 to 1.")
        ensure_corpus(config, config.dataset)
        names = config.dataset.split("+")
        train = {
            name: sep_data.load_clips(name, "train", config.data_dir, config.corpus_dir, config.limit) for name in names
        }
        # Validation, which picks the best checkpoint, hears voices that training does not: MIR-1K's dev singers
        # (with the rendered corpus too: real singing is the aim). Held-out clips of abjones and amy would reward
        # learning those two voices, the very thing that does not carry over to new singers, and would take a tenth
        # of 24 minutes of training audio away. The cost: the dev figures are slightly optimistic (the checkpoint
        # was picked on them); the test singers of a full MIR-1K (eval_split=test) stay untouched.
        valid_name = "mir1k" if "mir1k" in names else names[0]
        valid = sep_data.load_clips(valid_name, "valid", config.data_dir, config.corpus_dir, config.limit)
        distinct = {name: len(clips) for name, clips in train.items()}  # before any copy
        train_hours = hours([c for clips in train.values() for c in clips])
        if config.shifts:
            train = {name: sep_data.circular_shift_mixes(clips, config.shifts) for name, clips in train.items()}
        augment = config.dataset.startswith("mir1k") if config.augment is None else config.augment
        config.augment = augment  # the run's config.yaml and card say whether it was on
        if augment and "mir1k" in train and config.speed_semitones:
            shifts = (-config.speed_semitones, config.speed_semitones)
            train["mir1k"] = train["mir1k"] + sep_data.speed_changed(train["mir1k"], shifts)
        windows = dict(batch_size=config.batch_size, frames=config.window_frames, seed=config.seed)
        if augment or len(names) > 1:
            shares = {"mir1k": 1 - config.rendered_share, "rendered": config.rendered_share} if len(names) > 1 else {}
            augmentation = (
                sep_data.Augmentation(config.snr_db, config.gain_db, config.remix)
                if augment
                else sep_data.Augmentation(0, 0, 0)
            )
            train_set = sep_data.RemixedWindows(
                [(train[name], shares.get(name, 1.0)) for name in names],
                steps=config.steps_per_epoch,
                augmentation=augmentation,
                **windows,
            )
        else:
            train_set = sep_data.SpectrogramWindows(
                train[names[0]], steps=config.steps_per_epoch, shuffle=True, **windows
            )
        val_set = sep_data.SpectrogramWindows(
            valid, steps=max(1, config.steps_per_epoch // 10), shuffle=False, **windows
        )
        info = {
            "name": config.dataset,
            "train_clips": sum(distinct.values()),
            "valid_clips": len(valid),
            "train_hours": train_hours,
            "train_hours_with_copies": round(train_set.hours, 3),  # circular shifts and speed copies
            "valid_hours": round(val_set.hours, 3),
            "sample_rate": SAMPLE_RATE,
            "n_fft": N_FFT,
            "hop": HOP,
        }
        if len(names) > 1:
            info["train_clips_by_dataset"] = distinct
            info["batch_share_by_dataset"] = shares
        if "mir1k" in names:
            info["train_singers"] = sorted({c.singer for c in train["mir1k"]})
            info["valid_singers"] = sorted({c.singer for c in valid})
        if augment:
            info["augmentation"] = {
                "snr_db": config.snr_db,
                "gain_db": config.gain_db,
                "remix": config.remix,
                "speed_semitones": config.speed_semitones if "mir1k" in names else 0,
            }
        manifest = sep_data.rendered_manifest(config.corpus_dir) if "rendered" in names else None
        if manifest:
            info["corpus"] = corpus_summary(manifest)
        return Data(train_set, val_set, info)

    def compile(self, model: keras.Model, config: DictConfig, steps_per_epoch: int) -> None:
        """Adam with cosine decay and gradient clipping: ReLU recurrences can blow up early in training."""
        schedule = keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps_per_epoch)
        model.compile(optimizer=keras.optimizers.Adam(schedule, clipnorm=1.0), loss=DiscriminativeLoss(config.gamma))

    def evaluate(self, model: keras.Model, config: DictConfig) -> Evaluation:
        dataset = evaluation_dataset(config)
        ensure_corpus(config, dataset)  # as training does: the rendered corpus is made on first use
        groups = test_excerpts(config, dataset)
        if config.verbose:
            print(evaluation_note(config, dataset, groups))

        def network(clip: sep_data.Clip) -> tuple[np.ndarray, np.ndarray]:
            stems = separate(clip.mixture, SAMPLE_RATE, model=model)
            return stems["vocals"], stems["accompaniment"]

        methods = {
            model.name: network,
            "REPET-SIM": lambda c: repet_sim(c.mixture),
            "ideal ratio mask (oracle)": ideal_ratio_mask,
            "mixture": lambda c: mixture_baseline(c.mixture),
        }
        metrics, table, per_clip, singers = {}, [], {}, {}
        for split, clips in groups.items():
            results = score_clips(clips, methods, progress=bool(config.verbose))
            suffix = "_unseen" if split == "test_unseen" else ""
            ours = results[model.name]
            metrics.update({f"{key}{suffix}": ours[key] for key in ("gnsdr", "gsir", "gsar")})
            metrics[f"test_clips{suffix}"] = len(clips)
            metrics[f"test_seconds{suffix}"] = round(sum(c.seconds for c in clips), 1)
            label = singers_label(dataset, split, clips)
            table += [
                {
                    "method": name,
                    "voices": label,
                    "clips": len(clips),
                    "GNSDR (dB)": r["gnsdr"],
                    "GSIR (dB)": r["gsir"],
                    "GSAR (dB)": r["gsar"],
                }
                for name, r in results.items()
            ]
            by_clip = {c.name: c.singer for c in clips}
            per_clip[split] = {
                name: [{**row, "singer": by_clip[row["name"]]} for row in r["clips"]] for name, r in results.items()
            }
            singers[split] = sorted({c.singer for c in clips if c.singer})
        details = {
            "dataset": dataset,
            "singers": singers,
            "per_clip": per_clip,
            "paper_mir1k": {"gnsdr": 7.45, "gsir": 13.08, "gsar": 9.68},
        }
        return Evaluation(metrics, table, details)


def evaluation_note(config: DictConfig, dataset: str, groups: dict[str, list[sep_data.Clip]]) -> str:
    """What evaluate scores, in a line or two: the data set, its singers and, for auto, why and what else."""
    clips = [c for group in groups.values() for c in group]
    minutes = sum(c.seconds for c in clips) / 60
    if dataset == "mir1k":
        (split,) = groups
        folder = data_dir(config.data_dir) / "MIR-1K" / "Wavfile"
        who = ", ".join(sorted({c.singer for c in clips}))
        note = f"Scoring MIR-1K's {split} singers ({who}): {len(clips)} clips, {minutes:.1f} min, in {folder}."
        if split == "dev":
            note += " eval_split=test scores the other singers of a full copy."
    else:
        note = f"Scoring {dataset}: {len(clips)} clips, {minutes:.1f} min."
    if config.dataset == "auto":
        folder = data_dir(config.data_dir) / "MIR-1K" / "Wavfile"
        why = "dataset=rendered scores the rendered corpus" if dataset == "mir1k" else f"there is no {folder}"
        note += f" (dataset=auto chose {dataset}: {why}.)"
    return note


TASK = Separation()
