"""Singing-voice separation data: (vocals, accompaniment) clips at 16 kHz mono, and training windows.

Three data sets (`dataset=`), each read in its official layout:
- `rendered`: the corpus made by `python -m toolkit.separation.render`, or by the first training run
  (`{train,valid,test,test_unseen}/<piece>/{vocals,accompaniment}.wav`), by default in
  `.cache/separation/rendered/` (git-ignored).
- `mir1k`: MIR-1K, `<data dir>/MIR-1K/Wavfile/*.wav`, stereo 16 kHz, accompaniment left, voice right. The
  paper's split: the clips of singers abjones and amy train (175 clips), the other 825 test.
- `musdb`: MUSDB18-HQ, `<data dir>/musdb18hq/{train,test}/<song>/{vocals,drums,bass,other}.wav`;
  accompaniment = drums + bass + other.
Validation clips are the last 10% of the training clips for MIR-1K and MUSDB18 (neither defines one).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import librosa
import numpy as np
import soundfile as sf

from toolkit.data.paths import REPO_ROOT, require_files
from toolkit.errors import DataNotFoundError, InputError
from toolkit.separation.stft import HOP, SAMPLE_RATE, stft

DEFAULT_CORPUS = REPO_ROOT / ".cache" / "separation" / "rendered"
SPLITS = ("train", "valid", "test", "test_unseen")  # test_unseen: the test pieces sung by held-out voices
RENDERING_MARKER = ".rendering"  # present while a render is unfinished
CORPUS_VERSION = 2  # 2: Festival voices sing most melodies; a corpus of another version is rendered anew
DATASETS = ("rendered", "mir1k", "musdb")
MIR1K_TRAIN_SINGERS = ("abjones", "amy")
MUSDB_ACCOMPANIMENT = ("drums", "bass", "other")


@dataclass
class Clip:
    """One song or excerpt: two sources as (samples,) float32 at 16 kHz; the mixture is their sum."""

    name: str
    vocals: np.ndarray
    accompaniment: np.ndarray
    singer: str = ""  # rendered corpus: the Festival voice or "gm:<patch>" that sang the melody

    @property
    def mixture(self) -> np.ndarray:
        return self.vocals + self.accompaniment

    @property
    def seconds(self) -> float:
        return len(self.vocals) / SAMPLE_RATE


def read_audio(path: str | os.PathLike, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(channels, samples) float32 at `sr`, from any file soundfile reads (wav, flac, ogg, mp3...)."""
    try:
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise InputError(f"Cannot read audio from {path}: {err}") from err
    audio = audio.T
    if rate != sr:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=sr, res_type="soxr_hq")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _mono(path: Path) -> np.ndarray:
    return read_audio(path).mean(axis=0)


def corpus_root(corpus_dir: str | os.PathLike | None = None) -> Path:
    """The rendered corpus's folder: `corpus_dir`, else the default one."""
    return Path(corpus_dir or DEFAULT_CORPUS)


def rendered_test_splits(corpus_dir: str | os.PathLike | None = None) -> list[str]:
    """The test splits a rendered corpus holds: `test`, and `test_unseen` (held-out voices) where rendered."""
    return ["test"] + (["test_unseen"] if (corpus_root(corpus_dir) / "test_unseen").is_dir() else [])


def rendered_manifest(corpus_dir: str | os.PathLike | None = None) -> dict | None:
    """The manifest of a rendered corpus (None for a corpus laid out by hand); refuses an older version."""
    root = corpus_root(corpus_dir)
    path = root / "manifest.json"
    if not path.exists():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("version") != CORPUS_VERSION:
        raise DataNotFoundError(
            f"The corpus in {root} was rendered by an older toolkit (version {manifest.get('version', 1)}, "
            f"now {CORPUS_VERSION}: Festival voices sing most melodies). Delete the folder and render it again."
        )
    return manifest


def needs_rendering(corpus_dir: str | os.PathLike | None = None) -> bool:
    """True where no corpus is, or where a render was interrupted (its marker is still there)."""
    root = corpus_root(corpus_dir)
    if rendered_manifest(root) is not None:
        return False
    return (root / RENDERING_MARKER).exists() or not any((root / "train").glob("*/accompaniment.wav"))


def load_rendered(split: str, corpus_dir: str | os.PathLike | None = None, limit: int | None = None) -> list[Clip]:
    """Clips of one split of the rendered corpus, in name order, each with who sang its melody."""
    root = corpus_root(corpus_dir)
    songs = sorted(p for p in (root / split).glob("*") if (p / "vocals.wav").exists())
    if not songs:
        raise DataNotFoundError(
            f"No rendered separation corpus in {root / split}. `python -m toolkit.train task=separation` renders "
            f"it on first use, or render it yourself (about 10 minutes):\n"
            f"    python -m toolkit.separation.render --out {root}\n"
            "or train on MIR-1K / MUSDB18-HQ with dataset=mir1k or dataset=musdb."
        )
    singers = {p["folder"]: p.get("singer", "") for p in (rendered_manifest(root) or {}).get("pieces", [])}
    return [
        Clip(p.name, _mono(p / "vocals.wav"), _mono(p / "accompaniment.wav"), singers.get(f"{split}/{p.name}", ""))
        for p in songs[:limit]
    ]


def load_mir1k(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> list[Clip]:
    """MIR-1K clips of the paper's split; `valid` is the last 10% of the training singers' clips."""
    root = require_files("separation", "MIR-1K", ["Wavfile"], data_dir)
    files = sorted((root / "Wavfile").glob("*.wav"))
    train = [f for f in files if f.stem.split("_")[0] in MIR1K_TRAIN_SINGERS]
    chosen = _split_train([f for f in files if f not in train] if split == "test" else train, split)
    clips = []
    for f in chosen[:limit]:
        stereo = read_audio(f)
        if stereo.shape[0] != 2:
            raise InputError(f"{f} is not stereo: MIR-1K clips hold accompaniment left and voice right.")
        clips.append(Clip(f.stem, stereo[1], stereo[0]))
    return clips


def load_musdb(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> list[Clip]:
    """MUSDB18-HQ songs, downmixed to mono and resampled to 16 kHz; accompaniment = drums + bass + other."""
    root = require_files("separation", "musdb18hq", ["train", "test"], data_dir)
    songs = sorted(p for p in (root / ("test" if split == "test" else "train")).iterdir() if p.is_dir())
    clips = []
    for song in _split_train(songs, split)[:limit]:
        accompaniment = sum(_mono(song / f"{stem}.wav") for stem in MUSDB_ACCOMPANIMENT)
        clips.append(Clip(song.name, _mono(song / "vocals.wav"), accompaniment))
    return clips


def _split_train(items: list, split: str) -> list:
    """Training items minus the last 10% (validation); test items as they are."""
    if split == "test":
        return items
    cut = len(items) - max(1, len(items) // 10)
    return items[:cut] if split == "train" else items[cut:]


def load_clips(
    dataset: str, split: str, data_dir: str | None = None, corpus_dir: str | None = None, limit: int | None = None
) -> list[Clip]:
    """Clips of `split` from `dataset` (one of DATASETS): the rendered corpus is read from `corpus_dir`, MIR-1K
    and MUSDB18-HQ from the data directory."""
    if dataset == "rendered":
        return load_rendered(split, corpus_dir, limit)
    if dataset == "mir1k":
        return load_mir1k(split, data_dir, limit)
    if dataset == "musdb":
        return load_musdb(split, data_dir, limit)
    raise InputError(f"Unknown separation dataset '{dataset}'. Choose one of: {', '.join(DATASETS)}.")


def card_dataset(card: dict) -> str:
    """The data set a shipped model's card says it was trained on; cards written before the setting was renamed
    `dataset` name it `data`."""
    config = card.get("config", {})
    return config.get("dataset", config.get("data", "rendered"))


def circular_shift_mixes(clips: list[Clip], shifts: int) -> list[Clip]:
    """The paper's augmentation: each clip plus `shifts` remixes with the voice circularly shifted.

    Shifts are evenly spaced over the clip (multiples of the hop), so voice and accompaniment meet in new
    combinations while every sample of both sources is kept.
    """
    out = list(clips)
    for clip in clips:
        for k in range(1, shifts + 1):
            offset = (len(clip.vocals) * k // (shifts + 1)) // HOP * HOP
            out.append(Clip(f"{clip.name}+shift{k}", np.roll(clip.vocals, offset), clip.accompaniment))
    return out


def magnitudes(clips: list[Clip]) -> tuple[np.ndarray, np.ndarray]:
    """All clips' frames back to back: mixture (frames, bins) and sources (frames, bins, 2), float16 magnitudes."""
    mixture, sources = [], []
    for clip in clips:
        vocals, accompaniment = stft(clip.vocals), stft(clip.accompaniment)
        mixture.append(np.abs(vocals + accompaniment).astype(np.float16))
        sources.append(np.stack([np.abs(vocals), np.abs(accompaniment)], axis=-1).astype(np.float16))
    return np.concatenate(mixture), np.concatenate(sources)


class SpectrogramWindows(keras.utils.PyDataset):
    """Batches of `frames`-long windows cut at random from the frames of all clips (fixed cuts if not shuffled).

    x: (batch, frames, bins) float32 mixture magnitude; y: (batch, frames, bins, 2) vocals and accompaniment.
    """

    def __init__(self, clips: list[Clip], batch_size: int, frames: int, steps: int, shuffle: bool, seed: int = 0):
        super().__init__()
        self.mixture, self.sources = magnitudes(clips)
        if len(self.mixture) <= frames:
            raise InputError(f"The clips hold {len(self.mixture)} frames, fewer than one training window ({frames}).")
        self.batch_size, self.frames, self.steps, self.shuffle, self.seed = batch_size, frames, steps, shuffle, seed
        self.epoch = 0
        self._draw()

    def _draw(self) -> None:
        rng = np.random.default_rng([self.seed, self.epoch if self.shuffle else 0])
        self.starts = rng.integers(0, len(self.mixture) - self.frames, size=(self.steps, self.batch_size))

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self.starts[index][:, None] + np.arange(self.frames)
        return self.mixture[rows].astype(np.float32), self.sources[rows].astype(np.float32)

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.epoch += 1
            self._draw()

    @property
    def hours(self) -> float:
        return len(self.mixture) * HOP / SAMPLE_RATE / 3600
