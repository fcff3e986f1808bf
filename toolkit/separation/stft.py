"""Short-time Fourier transform with the paper's settings: 16 kHz, 1024-point Hann window, hop 512.

Spectrograms are time-major, `(frames, bins)` complex64 with `bins = n_fft // 2 + 1` (513), because the
recurrent network reads them frame by frame. Resynthesis reuses the mixture's phase.
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
    """Number of STFT frames of a signal of `samples` samples (centred frames)."""
    return 1 + samples // hop
