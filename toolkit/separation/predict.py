"""`separate(path_or_array, sr=None)`: split a song into vocals and accompaniment with a trained mask network.

Audio is downmixed to mono and resampled to 16 kHz; the mixture's STFT goes through the network in chunks
of `chunk_seconds` (plus `margin_seconds` of context on both sides that is computed and thrown away), so
the model's memory stays bounded for long songs while the result matches a whole-file pass.
"""

from __future__ import annotations

import functools
import io
import os
from typing import Any

import keras
import librosa
import numpy as np
import soundfile as sf

from toolkit.errors import InputError
from toolkit.separation.data import read_audio
from toolkit.separation.stft import HOP, SAMPLE_RATE, istft, stft

MAX_SECONDS = 15 * 60  # longer inputs are refused: a song, not an album
SILENCE_RMS = 1e-4  # below this (-80 dBFS) there is nothing to separate


@functools.lru_cache(maxsize=1)
def shipped_model() -> keras.Model:
    from toolkit import pretrained

    return pretrained.load("separation")


def load_mixture(
    path_or_array: str | os.PathLike | np.ndarray, sr: int | None = None, max_seconds: float = MAX_SECONDS
) -> np.ndarray:
    """(samples,) float32 mono at 16 kHz from a file or an array ((samples,), (samples, ch) or (ch, samples))."""
    if isinstance(path_or_array, (str, os.PathLike)):
        audio = read_audio(path_or_array)
    else:
        if sr is None:
            raise InputError("Pass the sample rate of an array: separate(audio, sr=44100).")
        audio = np.asarray(path_or_array, dtype=np.float32)
        if audio.ndim == 2 and audio.shape[0] > audio.shape[1]:  # (samples, channels) as soundfile returns it
            audio = audio.T
        if audio.ndim not in (1, 2) or audio.size == 0:
            raise InputError(f"Expected mono or multichannel audio, got an array of shape {audio.shape}.")
        if not np.all(np.isfinite(audio)):
            raise InputError("The audio contains NaN or infinite samples.")
        if sr != SAMPLE_RATE:
            audio = librosa.resample(audio, orig_sr=sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    if not np.all(np.isfinite(mono)):
        raise InputError("The audio contains NaN or infinite samples.")
    seconds = len(mono) / SAMPLE_RATE
    if seconds < 0.5:
        raise InputError(f"The audio is too short ({seconds:.2f} s); give at least half a second.")
    if seconds > max_seconds:
        raise InputError(f"The audio is {seconds / 60:.1f} minutes long; the limit is {max_seconds / 60:.0f} minutes.")
    if np.sqrt(np.mean(np.square(mono))) < SILENCE_RMS:
        raise InputError("The audio is silent (below -80 dBFS): there is nothing to separate.")
    return np.ascontiguousarray(mono, dtype=np.float32)


def decode_audio(data: bytes, max_bytes: int = 100 * 2**20) -> tuple[np.ndarray, int]:
    """Uploaded file bytes -> ((channels, samples) float32, sample rate); any format libsndfile reads."""
    if len(data) > max_bytes:
        raise InputError(f"The file is {len(data) / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as err:
        raise InputError("This file is not audio that can be read (wav, flac, ogg, mp3).") from err
    return audio.T, rate


def predict_mask(
    model: keras.Model, magnitude: np.ndarray, chunk_frames: int | None = None, margin_frames: int = 64
) -> np.ndarray:
    """(frames, bins) mixture magnitude -> (frames, bins) vocal soft mask in [0, 1], chunk by chunk."""
    frames = len(magnitude)
    chunk_frames = chunk_frames or frames
    mask = np.empty_like(magnitude, dtype=np.float32)
    for start in range(0, frames, chunk_frames):
        stop = min(start + chunk_frames, frames)
        lo, hi = max(0, start - margin_frames), min(frames, stop + margin_frames)
        vocals = model.predict_on_batch(magnitude[None, lo:hi])[0, ..., 0]  # compiled: fast recurrent loops
        mask[start:stop] = (vocals / np.maximum(magnitude[lo:hi], 1e-8))[start - lo : stop - lo]
    return np.clip(mask, 0.0, 1.0)


def separate(
    path_or_array: str | os.PathLike | np.ndarray,
    sr: int | None = None,
    model: keras.Model | None = None,
    chunk_seconds: float = 30.0,
    margin_seconds: float = 2.0,
    return_mask: bool = False,
) -> dict[str, Any]:
    """Separate a song. Returns {"vocals": (samples,), "accompaniment": (samples,), "sr": 16000} (float32 at
    16 kHz; the two stems add up to the mono mixture) and, with return_mask, "mixture" and "mask" (frames, bins)."""
    mixture = load_mixture(path_or_array, sr)
    spectrum = stft(mixture)
    per_second = SAMPLE_RATE / HOP
    mask = predict_mask(
        model or shipped_model(),
        np.abs(spectrum),
        max(1, int(chunk_seconds * per_second)),
        int(margin_seconds * per_second),
    )
    vocals = istft(mask * spectrum, len(mixture))
    result = {"vocals": vocals, "accompaniment": mixture - vocals, "sr": SAMPLE_RATE}
    if return_mask:
        result.update(mixture=mixture, mask=mask)
    return result
