"""Tiny synthetic data sets in each data set's official layout, for the tests' data directories.

Each writer fills `root` the way the real data directory is laid out (see ../shared/data/README.md), so the
real loaders read them; conftest.py turns each into a fixture.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

from tests.harness import write_idx, write_idx_dataset
from toolkit.data.cifar import CIFAR10_CLASSES
from toolkit.denoising.quality import to_uint8
from toolkit.separation import data, singer
from toolkit.separation.stft import SAMPLE_RATE

__all__ = ["write_idx_dataset"]  # re-exported: MNIST and Fashion-MNIST

SHAPES_CLASSES = ["blue", "green", "red"]


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random uint8 picture (gradients and a blob), so denoising has something to keep."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    image = 0.5 + 0.3 * np.sin(6 * xs + rng.uniform(0, 3)) * np.cos(4 * ys) + 0.2 * ((xs - 0.5) ** 2 + ys**2 < 0.2)
    return to_uint8(image)


def write_denoising_images(root: Path) -> Path:
    """Train400 and BSD68 in their official layouts: 10 + 2 small grayscale PNGs."""
    for folder, names, shape in (
        ("train400", [f"test_{i:03d}.png" for i in range(1, 11)], (48, 48)),
        ("bsd68", ["test001.png", "test002.png"], (41, 36)),
    ):
        (root / "denoising" / folder).mkdir(parents=True)
        for i, name in enumerate(names):
            Image.fromarray(smooth_image(*shape, seed=i)).save(root / "denoising" / folder / name)
    return root


def write_cifar_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """A batch in the official layout: a dict with bytes keys, rows of R, G, B planes (protocol 2, as released)."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    batch = {b"batch_label": b"test", b"labels": labels.tolist(), b"data": rows, b"filenames": [b"x.png"] * len(rows)}
    path.write_bytes(pickle.dumps(batch, protocol=2))


def write_cifar_pickles(root: Path) -> Path:
    """cifar-10-batches-py/: five 20-image training batches and a 20-image test batch of random pixels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        write_cifar_batch(folder / name, rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), np.arange(20) % 10)
    return root


def write_cifar_jpeg(root: Path, train: int = 10, test: int = 4, seed: int = 0) -> Path:
    """A tiny CIFAR-10 in its JPEG layout, <root>/cifar-10-jpeg/{train,test}/<class>/*.jpg: smooth colour blobs."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:32, 0:32] / 31
    for split, count in (("train", train), ("test", test)):
        for cls in CIFAR10_CLASSES:
            (root / "cifar-10-jpeg" / split / cls).mkdir(parents=True)
            for i in range(count):
                a, b, c = rng.uniform(0, 1, (3, 3, 1, 1))
                picture = np.clip(a + (b - 0.5) * xs + (c - 0.5) * ys, 0, 1).transpose(1, 2, 0)
                Image.fromarray(np.uint8(picture * 255)).save(root / "cifar-10-jpeg" / split / cls / f"{i:04d}.jpg")
    return root


def write_shapes(root: Path, per_class: int = 8) -> Path:
    """`root/shapes/<colour>/<i>.jpg`: 40x40 JPEGs dominated by one colour channel per class."""
    rng = np.random.default_rng(0)
    for channel, name in enumerate(reversed(SHAPES_CLASSES)):  # red=0, green=1, blue=2
        folder = root / "shapes" / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 80, (40, 40, 3), dtype=np.uint8)
            image[..., channel] += 150
            Image.fromarray(image).save(folder / f"{i}.jpg")
    return root


def voice_and_accompaniment(seconds: float, seed: int, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """A gliding harmonic 'voice' and a sustained chord with noise at `sr` Hz: two sources a mask can tell apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    pitch = rng.uniform(200, 400) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / sr
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    chord = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in rng.uniform(80, 160, 3))
    accompaniment = 0.3 * chord + 0.05 * rng.standard_normal(len(t))
    return (0.2 * voice).astype(np.float32), (0.2 * accompaniment).astype(np.float32)


def write_separation_corpus(root: Path) -> Path:
    """A tiny corpus in the rendered layout: 3 train, 1 valid, 2 test, 1 test_unseen pieces of 3 s, manifest."""
    pieces = []
    for split, count in (("train", 3), ("valid", 1), ("test", 2), ("test_unseen", 1)):
        for i in range(count):
            vocals, accompaniment = voice_and_accompaniment(3, hash((split, i)) % 1000)
            (root / split / f"piece{i}").mkdir(parents=True)
            sf.write(root / split / f"piece{i}" / "vocals.wav", vocals, SAMPLE_RATE)
            sf.write(root / split / f"piece{i}" / "accompaniment.wav", accompaniment, SAMPLE_RATE)
            who = (
                "voice_ked_diphone" if split == "test_unseen" else ("gm:53", "voice_kal_diphone", "voice_lp_diphone")[i]
            )
            pieces.append({"split": split, "folder": f"{split}/piece{i}", "singer": who})
    manifest = {
        "version": data.CORPUS_VERSION,
        "festival_voices": {"seen": list(singer.SEEN_VOICES), "unseen": list(singer.UNSEEN_VOICES)},
        "pieces": pieces,
        "skipped": [],
        "hours": 0.006,
        "render_seconds": 1.0,
    }
    (root / "manifest.json").write_text(json.dumps(manifest))  # the keys render_corpus writes that cards quote
    return root


MIR1K_TINY_CLIPS = {  # singer -> (clip seconds, file type): 2 training, 2 dev and 2 test singers, WAV and FLAC
    "abjones": [(3.0, "flac"), (2.0, "wav")],
    "amy": [(2.5, "flac"), (2.0, "flac")],
    "annar": [(3.0, "flac"), (1.0, "wav")],
    "tammy": [(2.0, "wav")],
    "bobon": [(2.0, "wav")],
    "yifen": [(1.5, "flac")],
}


def write_mir1k(root: Path) -> Path:
    """MIR-1K's layout, `MIR-1K/Wavfile/<singer>_<n>_<m>.{wav,flac}`: stereo 16 kHz, 16-bit, accompaniment left,
    voice right, the voice 6 dB below the accompaniment (the loader mixes them at 0 dB); `abjones_1_02` is there
    as both WAV and FLAC (one clip), and a text file that is not a clip."""
    folder = root / "MIR-1K" / "Wavfile"
    folder.mkdir(parents=True)
    for s, (name, clips) in enumerate(MIR1K_TINY_CLIPS.items()):
        for i, (seconds, kind) in enumerate(clips):
            vocals, accompaniment = voice_and_accompaniment(seconds, 100 * s + i)
            stereo = np.stack([accompaniment, 0.5 * vocals * np.std(accompaniment) / np.std(vocals)], axis=1)
            sf.write(folder / f"{name}_1_{i + 1:02d}.{kind}", stereo, SAMPLE_RATE, subtype="PCM_16")
    sf.write(folder / "abjones_1_02.flac", sf.read(folder / "abjones_1_02.wav")[0], SAMPLE_RATE, subtype="PCM_16")
    (folder / "readme.txt").write_text("not a clip")
    return root


def write_learnable_digits(root: Path, train: int = 3000, test: int = 500, seed: int = 0) -> Path:
    """An MNIST-layout set a network can learn in a few hundred steps: class k is a bright 7x7 square at the k-th of
    ten places, on noise, shifted by up to 2 pixels."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("t10k", test)):
        labels = rng.integers(0, 10, count)
        images = rng.integers(0, 60, (count, 28, 28))
        for image, label in zip(images, labels):
            top, left = 2 + 12 * (label // 5) + rng.integers(-2, 3), 1 + 5 * (label % 5) + rng.integers(0, 2)
            image[top : top + 7, left : left + 7] += 180
        write_idx(root / "mnist" / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(root / "mnist" / f"{split}-labels-idx1-ubyte.gz", labels)
    return root
