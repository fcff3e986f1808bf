"""Short-time Fourier transform with the paper's settings: 16 kHz, 1024-point Hann window, hop 512.

Spectrograms are time-major, `(frames, bins)` complex64 with `bins = n_fft // 2 + 1` (513), because the
recurrent network reads them frame by frame. Resynthesis reuses the mixture's phase. A song at another rate
is masked on the same grid in seconds and hertz: `stft_size(rate)` gives the window and hop that last as long
as the model's, and `regrid_mask` carries the model's mask onto that grid.
"""

from __future__ import annotations

import librosa
import numpy as np

SAMPLE_RATE = 16000  # Hz
N_FFT = 1024  # samples (64 ms)
HOP = 512  # samples (32 ms)


def stft(audio: np.ndarray, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(samples,) float audio -> (frames, n_fft // 2 + 1) complex64 spectrogram."""
    return librosa.stft(np.asarray(audio, np.float32), n_fft=n_fft, hop_length=hop, window="hann").T.astype(
        np.complex64
    )


def istft(spectrogram: np.ndarray, length: int, n_fft: int = N_FFT, hop: int = HOP) -> np.ndarray:
    """(frames, bins) complex spectrogram -> (length,) float32 audio; inverts `stft` exactly."""
    return librosa.istft(spectrogram.T, n_fft=n_fft, hop_length=hop, window="hann", length=length).astype(np.float32)


def frames_for(samples: int, hop: int = HOP) -> int:
    """Number of STFT frames of a signal of `samples` samples (centred frames, even n_fft)."""
    return 1 + samples // hop


def stft_size(rate: int) -> tuple[int, int]:
    """(n_fft, hop) in samples at `rate` Hz lasting as long as the model's 64 ms window and 32 ms hop.

    Rounded to whole samples, n_fft to an even number so that frames are centred as at 16 kHz (`frames_for`);
    at 44.1 kHz: (2822, 1411), 15.6 Hz per bin like the model's 15.625.
    """
    return 2 * round(N_FFT / 2 * rate / SAMPLE_RATE), round(HOP * rate / SAMPLE_RATE)


def regrid_mask(mask: np.ndarray, rate: int, frames: int) -> np.ndarray:
    """A (model frames, 513) mask on the 16 kHz grid -> (frames, n_fft // 2 + 1) on the grid of `stft_size(rate)`.

    Each target cell takes the mask at its own time (frame k is centred at k * hop / rate s) and frequency (bin b
    at b * rate / n_fft Hz), linearly interpolated between the model's cells; frames past the model's last one
    take its last frame. Bins above the model's Nyquist (8 kHz) get 0: the network never heard them, so it claims
    nothing there and they stay in the accompaniment (cymbals and air, but also the voice's sibilants and breath
    above 8 kHz). At 16 kHz this is the identity.
    """
    n_fft, hop = stft_size(rate)
    times = np.arange(frames) * (hop * SAMPLE_RATE) / (rate * HOP)  # target frames in model frames
    freqs = np.arange(n_fft // 2 + 1) * (rate * N_FFT) / (n_fft * SAMPLE_RATE)  # target bins in model bins
    regridded = interpolate_rows(interpolate_rows(mask, times).T, freqs).T
    regridded[:, freqs > N_FFT // 2] = 0.0
    return regridded


def interpolate_rows(values: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(rows, columns) `values` linearly interpolated at fractional row `positions` (n,), clamped to the ends."""
    positions = np.clip(positions, 0, len(values) - 1)
    below = np.floor(positions).astype(int)
    above = np.minimum(below + 1, len(values) - 1)
    weight = (positions - below).astype(values.dtype)[:, None]
    return values[below] * (1 - weight) + values[above] * weight
