"""`separate(path_or_array, sr=None)`: split a song into vocals and accompaniment with a trained mask network.

The network hears what it was trained on: the song downmixed to mono and resampled to 16 kHz. That STFT goes
through it in chunks of `chunk_seconds` (plus `margin_seconds` of context on both sides that is computed and
thrown away), so the model's memory stays bounded for long songs while the result matches a whole-file pass.
Its soft mask is then laid onto each channel's full-band STFT at the song's own rate (`stft.regrid_mask`), so the
stems come back as the song came in: same rate, same channels, and accompaniment = song - vocals, so that the two
add up to the song exactly. Above the model's 8 kHz Nyquist the mask is 0: all of it stays in the accompaniment.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Callable
from typing import Any

import keras
import librosa
import numpy as np
import soundfile as sf

from toolkit.errors import InputError
from toolkit.separation.stft import HOP, SAMPLE_RATE, frames_for, istft, regrid_mask, stft, stft_size

MAX_SECONDS = 15 * 60  # longer inputs are refused: a song, not an album
MIN_RATE = 8000  # Hz: telephone quality; below it there is too little of a voice left to separate
SILENCE_RMS = 1e-4  # below this (-80 dBFS) there is nothing to separate
# libsndfile reads MP3 from version 1.1 (soundfile >= 0.12 wheels bundle it); an older system copy does not
READABLE = (
    "wav, flac, ogg, mp3"
    if "MP3" in sf.available_formats()
    else f"wav, flac, ogg; not mp3, which this libsndfile {sf.__libsndfile_version__} cannot read (convert it)"
)


@functools.lru_cache(maxsize=1)
def shipped_model() -> keras.Model:
    from toolkit import pretrained

    return pretrained.load("separation")


def read_song(source: str | os.PathLike | io.BytesIO) -> tuple[np.ndarray, int]:
    """(samples, channels) float32 and the rate in Hz, from a file or file object libsndfile reads."""
    try:
        audio, rate = sf.read(source, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError) as err:
        if isinstance(source, io.BytesIO):
            raise InputError(f"This file is not audio that can be read ({READABLE}).") from err
        raise InputError(f"Cannot read audio from {source}: {err} Readable: {READABLE}.") from err
    return audio, rate


def decode_audio(data: bytes, max_bytes: int = 100 * 2**20) -> tuple[np.ndarray, int]:
    """Uploaded file bytes -> ((samples, channels) float32, rate in Hz)."""
    if len(data) > max_bytes:
        raise InputError(f"The file is {len(data) / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB.")
    return read_song(io.BytesIO(data))


def load_song(
    path_or_array: str | os.PathLike | np.ndarray, sr: int | None = None, max_seconds: float = MAX_SECONDS
) -> tuple[np.ndarray, int]:
    """The song as it came, checked: float32 (samples,) or (samples, channels), and its rate in Hz.

    A file reads as (samples, channels). An array keeps its layout, except that one with more columns than rows
    is taken as (channels, samples) and turned to (samples, channels). Raises InputError for what cannot be
    separated: an array without a rate, NaN or infinite samples, a rate under MIN_RATE, under half a second or
    over `max_seconds`, silence.
    """
    if isinstance(path_or_array, (str, os.PathLike)):
        audio, rate = read_song(path_or_array)
    else:
        if sr is None:
            raise InputError("Pass the sample rate of an array: separate(audio, sr=44100).")
        audio, rate = np.asarray(path_or_array, dtype=np.float32), int(sr)
        if audio.ndim == 2 and audio.shape[0] < audio.shape[1]:
            audio = audio.T
    if audio.ndim not in (1, 2) or audio.size == 0:
        raise InputError(f"Expected mono or multichannel audio, got an array of shape {audio.shape}.")
    if not np.all(np.isfinite(audio)):
        raise InputError("The audio contains NaN or infinite samples.")
    if rate < MIN_RATE:
        raise InputError(f"The sample rate is {rate} Hz; separation needs at least {MIN_RATE} Hz.")
    seconds = len(audio) / rate
    if seconds < 0.5:
        raise InputError(f"The audio is too short ({seconds:.2f} s); give at least half a second.")
    if seconds > max_seconds:
        raise InputError(f"The audio is {seconds / 60:.1f} minutes long; the limit is {max_seconds / 60:.0f} minutes.")
    if np.sqrt(np.mean(np.square(downmix(audio)))) < SILENCE_RMS:
        raise InputError("The audio is silent (below -80 dBFS): there is nothing to separate.")
    return np.ascontiguousarray(audio), rate


def downmix(song: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples,) mean of the channels."""
    return song.reshape(len(song), -1).mean(axis=1)


def model_input(song: np.ndarray, rate: int) -> np.ndarray:
    """What the network hears: (samples at 16 kHz,) float32 mono, downmixed and resampled (soxr HQ)."""
    mono = downmix(song)
    if rate != SAMPLE_RATE:
        mono = librosa.resample(mono, orig_sr=rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_mixture(
    path_or_array: str | os.PathLike | np.ndarray, sr: int | None = None, max_seconds: float = MAX_SECONDS
) -> np.ndarray:
    """(samples,) float32 mono at 16 kHz, as the network hears the song; checked as in `load_song`."""
    return model_input(*load_song(path_or_array, sr, max_seconds))


def predict_mask(
    model: keras.Model,
    magnitude: np.ndarray,
    chunk_frames: int | None = None,
    margin_frames: int = 64,
    progress: Callable[[float], object] | None = None,
) -> np.ndarray:
    """(frames, bins) mixture magnitude -> (frames, bins) vocal soft mask in [0, 1], chunk by chunk.

    `progress(fraction)` is called after each chunk with the fraction of frames done (the last call gives 1.0).
    """
    frames = len(magnitude)
    chunk_frames = chunk_frames or frames
    mask = np.empty_like(magnitude, dtype=np.float32)
    for start in range(0, frames, chunk_frames):
        stop = min(start + chunk_frames, frames)
        lo, hi = max(0, start - margin_frames), min(frames, stop + margin_frames)
        vocals = model.predict_on_batch(magnitude[None, lo:hi])[0, ..., 0]  # compiled: fast recurrent loops
        mask[start:stop] = (vocals / np.maximum(magnitude[lo:hi], 1e-8))[start - lo : stop - lo]
        if progress is not None:
            progress(stop / frames)
    return np.clip(mask, 0.0, 1.0)


def mask_song(song: np.ndarray, rate: int, mask: np.ndarray) -> np.ndarray:
    """Vocals of `song` (its layout, float32): the (frames, 513) 16 kHz mask on each channel's STFT at `rate` Hz."""
    n_fft, hop = stft_size(rate)
    gains = regrid_mask(mask, rate, frames_for(len(song), hop))
    vocals = []
    for channel in song.reshape(len(song), -1).T:  # one at a time: a channel's STFT at 44.1 kHz is 20 MB a minute
        spectrum = stft(channel, n_fft, hop)
        spectrum *= gains
        vocals.append(istft(spectrum, len(song), n_fft, hop))
    return np.stack(vocals, axis=1).reshape(song.shape)


def separate(
    path_or_array: str | os.PathLike | np.ndarray,
    sr: int | None = None,
    model: keras.Model | None = None,
    chunk_seconds: float = 30.0,
    margin_seconds: float = 2.0,
    return_mask: bool = False,
    progress: Callable[[float], object] | None = None,
) -> dict[str, Any]:
    """Separate a song into {"vocals", "accompaniment", "sr"}, as the song came in.

    The stems are float32 at the song's own rate "sr" (Hz) with its channels: (samples, channels) for a file or a
    2-D array (an array given as (channels, samples) comes back as (samples, channels)), (samples,) for a 1-D
    array. vocals + accompaniment equals the song to float32 precision. Above 8 kHz the vocals are silent.
    With return_mask, also "mask", the vocal soft mask in [0, 1], and "magnitude", the STFT magnitude of the
    16 kHz mono mixture the network read: both (frames, 513), 31.25 frames per second, 15.625 Hz per bin.
    `progress(fraction)` is called after each chunk of the network's pass (see `predict_mask`).
    """
    song, rate = load_song(path_or_array, sr)
    magnitude = np.abs(stft(model_input(song, rate)))
    per_second = SAMPLE_RATE / HOP
    mask = predict_mask(
        model or shipped_model(),
        magnitude,
        max(1, int(chunk_seconds * per_second)),
        int(margin_seconds * per_second),
        progress,
    )
    vocals = mask_song(song, rate, mask)
    result = {"vocals": vocals, "accompaniment": song - vocals, "sr": rate}
    if return_mask:
        result.update(mask=mask, magnitude=magnitude)
    return result
