"""Singing-voice separation data: (vocals, accompaniment) clips at 16 kHz mono, and training windows.

Three data sets (`dataset=`), each read in its official layout:
- `rendered`: the corpus made by `python -m toolkit.separation.render`, or by the first training run
  (`{train,valid,test,test_unseen}/<piece>/{vocals,accompaniment}.wav`), by default in
  `.cache/separation/rendered/` (git-ignored).
- `mir1k`: MIR-1K, `<data dir>/MIR-1K/Wavfile/<singer>_<n>_<m>.wav` (or `.flac`), stereo 16 kHz, accompaniment
  left, voice right, split by singer: abjones and amy train (175 clips, the paper's training set), annar and tammy
  are the development set of unseen voices (50 clips), every other singer of a full copy tests (775 clips).
  Each clip's voice and accompaniment are mixed at 0 dB, as in the paper.
- `musdb`: MUSDB18-HQ, `<data dir>/musdb18hq/{train,test}/<song>/{vocals,drums,bass,other}.wav`;
  accompaniment = drums + bass + other. Validation songs are the last 10% of the training songs.

Training windows: `SpectrogramWindows` cuts them from the clips as they are; `RemixedWindows` remixes each one at
random (voice-to-music ratio, level, a voice over another clip's music), which is what makes MIR-1K's 24 minutes
go far, and draws from several data sets at set shares. `speed_changed` adds copies of clips played slightly
faster and slower.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
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
MIR1K_TRAIN_SINGERS = ("abjones", "amy")  # Huang et al. (ISMIR 2014) trained on these two
MIR1K_DEV_SINGERS = ("annar", "tammy")  # unseen voices for validation and development
MIR1K_SPLITS = ("train", "dev", "test")  # test: every singer of the folder that neither trains nor develops
MIR1K_SUFFIXES = (".wav", ".flac")  # the official WAV files, or FLAC copies of the same samples
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


def mix_at(vocals: np.ndarray, accompaniment: np.ndarray, snr_db: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The two sources rescaled so that the voice is `snr_db` dB above the accompaniment (energy ratio), with
    their total energy, hence the mixture's level, as it was."""
    energy_v, energy_a = (float(np.sum(np.square(x, dtype=np.float64))) for x in (vocals, accompaniment))
    ratio = 10 ** (snr_db / 10)
    target_a = (energy_v + energy_a) / (1 + ratio)  # energy_v' + energy_a' = total, energy_v' = ratio * energy_a'
    gain_v = np.sqrt(ratio * target_a / max(energy_v, 1e-20))
    gain_a = np.sqrt(target_a / max(energy_a, 1e-20))
    return (vocals * gain_v).astype(np.float32), (accompaniment * gain_a).astype(np.float32)


def mir1k_singer(path: Path) -> str:
    """The singer of a MIR-1K clip, from its file name `<singer>_<n>_<m>.wav`."""
    return path.stem.split("_")[0]


def mir1k_files(split: str, data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The clip files of a MIR-1K split in name order: `train` (abjones, amy), `dev` (annar, tammy; `valid` is the
    same) or `test` (every other singer). One file per clip: a clip there as both WAV and FLAC is read once.

    Raises DataNotFoundError for an empty split, naming the folder and the singers it expected.
    """
    split = "dev" if split == "valid" else split
    if split not in MIR1K_SPLITS:
        raise InputError(f"MIR-1K has no split '{split}'; its splits are {', '.join(MIR1K_SPLITS)}.")
    folder = require_files("separation", "MIR-1K", ["Wavfile"], data_dir) / "Wavfile"
    clips: dict[str, Path] = {}
    for path in sorted(folder.iterdir(), key=lambda p: (p.stem, p.suffix.lower() != ".wav")):
        if path.suffix.lower() in MIR1K_SUFFIXES:
            clips.setdefault(path.stem, path)
    named = {"train": MIR1K_TRAIN_SINGERS, "dev": MIR1K_DEV_SINGERS}
    if split == "test":
        chosen = [p for p in clips.values() if mir1k_singer(p) not in MIR1K_TRAIN_SINGERS + MIR1K_DEV_SINGERS]
    else:
        chosen = [p for p in clips.values() if mir1k_singer(p) in named[split]]
    if not chosen:
        present = sorted({mir1k_singer(p) for p in clips.values()})
        expected = (
            f"any singer other than {', '.join(MIR1K_TRAIN_SINGERS + MIR1K_DEV_SINGERS)} (the full MIR-1K has 15)"
            if split == "test"
            else ", ".join(named[split])
        )
        raise DataNotFoundError(
            f"No MIR-1K clips of the {split} singers in {folder}: expected <singer>_<n>_<m>.wav or .flac files of "
            f"{expected}; the folder holds {', '.join(present) or 'no clips'}."
        )
    return chosen


def mir1k_singers(split: str, data_dir: str | os.PathLike | None = None) -> list[str]:
    """The singers of a MIR-1K split, sorted."""
    return sorted({mir1k_singer(p) for p in mir1k_files(split, data_dir)})


def load_mir1k(split: str, data_dir: str | os.PathLike | None = None, limit: int | None = None) -> list[Clip]:
    """MIR-1K clips of a split (see `mir1k_files`), voice and accompaniment mixed at 0 dB as in the paper."""
    clips = []
    for f in mir1k_files(split, data_dir)[:limit]:
        stereo = read_audio(f)
        if stereo.shape[0] != 2:
            raise InputError(f"{f} is not stereo: MIR-1K clips hold accompaniment left and voice right.")
        clips.append(Clip(f.stem, *mix_at(stereo[1], stereo[0]), singer=mir1k_singer(f)))
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


def speed_changed(clips: list[Clip], semitones: Sequence[float]) -> list[Clip]:
    """Copies of each clip played `semitones` faster (> 0) or slower, voice and music alike, as a tape runs faster:
    pitch and tempo change together (speed perturbation). Resampling is cheap (seconds for MIR-1K's 24 minutes)
    where a pitch shift that keeps the tempo (librosa's phase vocoder) costs about a minute per copy."""
    copies = []
    for shift in semitones:
        rate = round(SAMPLE_RATE * 2 ** (shift / 12))  # read as recorded at `rate`, replayed at SAMPLE_RATE
        for c in clips:
            vocals, accompaniment = (
                librosa.resample(x, orig_sr=rate, target_sr=SAMPLE_RATE, res_type="soxr_hq").astype(np.float32)
                for x in (c.vocals, c.accompaniment)
            )
            copies.append(Clip(f"{c.name}@{shift:+g}st", vocals, accompaniment, c.singer))
    return copies


@dataclass
class Augmentation:
    """How `RemixedWindows` remixes each training window (all 0: the clips as they are)."""

    snr_db: float = 5.0  # the voice-to-music ratio moves by a uniform draw in +-snr_db dB
    gain_db: float = 6.0  # both sources' level moves together by a uniform draw in +-gain_db dB
    remix: float = 0.5  # the share of windows whose voice is heard over music from elsewhere in the same data set


class WindowPool:
    """The clips of one data set as two complex STFTs back to back, (frames, bins) complex64: MIR-1K's 24 minutes
    and their two speed copies take 0.5 GB, and cutting windows from them costs no conversion in each batch."""

    def __init__(self, clips: list[Clip], frames: int):
        self.vocals = np.concatenate([stft(c.vocals) for c in clips])
        self.accompaniment = np.concatenate([stft(c.accompaniment) for c in clips])
        if len(self.vocals) <= frames:
            raise InputError(f"The clips hold {len(self.vocals)} frames, fewer than one training window ({frames}).")

    @property
    def hours(self) -> float:
        return len(self.vocals) * HOP / SAMPLE_RATE / 3600


class RemixedWindows(keras.utils.PyDataset):
    """Batches of `frames`-long training windows remixed at random, from one or more data sets at set shares.

    Each window takes its voice from a random place of its pool, and its music from the same place or, for a share
    `augmentation.remix` of windows, from another random place (another clip's music, or the same clip's at another
    time); the two are scaled by gains drawn from `augmentation`. The STFT is linear, so the mixture's spectrum is
    the sum of the scaled sources' spectra: x = |g_v V + g_a A| is the magnitude of the mixture g_v v + g_a a (each
    window's music delayed by whole hops), and the targets are g_v |V| and g_a |A|. Remixing costs a few
    milliseconds per batch where an STFT of every window would cost more than the training step.

    `pools` are (clips, share) pairs: each batch takes round(share * batch_size) windows from each (cumulatively
    rounded, so the counts add up to the batch). A batch depends on (seed, epoch, index) alone, whatever the order
    in which Keras asks for them.
    x: (batch, frames, bins) float32 mixture magnitude; y: (batch, frames, bins, 2) vocals and accompaniment.
    """

    def __init__(
        self,
        pools: list[tuple[list[Clip], float]],
        batch_size: int,
        frames: int,
        steps: int,
        augmentation: Augmentation,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        shares = np.array([share for _, share in pools], float)
        if np.any(shares < 0) or shares.sum() <= 0:
            raise InputError(f"The data sets' shares of a batch must be >= 0 and not all 0, not {shares.tolist()}.")
        edges = np.round(np.cumsum(shares) / shares.sum() * batch_size).astype(int)
        self.counts = np.diff(edges, prepend=0)
        self.pools = [WindowPool(clips, frames) for (clips, _), count in zip(pools, self.counts) if count]
        self.counts = self.counts[self.counts > 0]
        self.batch_size, self.frames, self.steps, self.seed = batch_size, frames, steps, seed
        self.augmentation = augmentation
        self.epoch = 0

    def __len__(self) -> int:
        return self.steps

    def draws(self, index: int) -> list[dict[str, np.ndarray]]:
        """Per pool, the batch's random choices: voice and music start frames and the two gains (linear)."""
        rng = np.random.default_rng([self.seed, self.epoch, index])
        aug, out = self.augmentation, []
        for pool, count in zip(self.pools, self.counts):
            starts = rng.integers(0, len(pool.vocals) - self.frames, size=(2, count))
            remixed = rng.random(count) < aug.remix
            snr, gain = rng.uniform(-1, 1, (2, count)) * np.array([[aug.snr_db], [aug.gain_db]])
            out.append(
                {
                    "vocals_start": starts[0],
                    "accompaniment_start": np.where(remixed, starts[1], starts[0]),
                    "vocals_gain": 10 ** ((gain + snr / 2) / 20),
                    "accompaniment_gain": 10 ** ((gain - snr / 2) / 20),
                }
            )
        return out

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.arange(self.frames)
        xs, ys = [], []
        for pool, draw in zip(self.pools, self.draws(index)):
            vocals = pool.vocals[draw["vocals_start"][:, None] + offsets]
            vocals *= draw["vocals_gain"][:, None, None].astype(np.float32)
            accompaniment = pool.accompaniment[draw["accompaniment_start"][:, None] + offsets]
            accompaniment *= draw["accompaniment_gain"][:, None, None].astype(np.float32)
            xs.append(np.abs(vocals + accompaniment))
            ys.append(np.stack([np.abs(vocals), np.abs(accompaniment)], axis=-1))
        return np.concatenate(xs), np.concatenate(ys)

    def on_epoch_end(self) -> None:
        self.epoch += 1

    @property
    def hours(self) -> float:
        return sum(pool.hours for pool in self.pools)
