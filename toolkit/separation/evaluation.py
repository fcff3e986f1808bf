"""BSS-eval as in the paper: NSDR, SIR, SAR of the separated voice and their length-weighted means.

NSDR = SDR(estimated voice, voice) - SDR(mixture, voice): the improvement over doing nothing.
GNSDR/GSIR/GSAR weight each clip by its length. Scores come from mir_eval's BSS-eval v3 (the version
the paper used) on both sources at once, so SIR measures leakage of the accompaniment into the voice.
Baselines scored on the same clips: the mixture itself, REPET-SIM and the ideal ratio mask (oracle).
"""

from __future__ import annotations

from collections.abc import Callable

import librosa
import mir_eval
import numpy as np

from toolkit.separation.data import Clip
from toolkit.separation.stft import SAMPLE_RATE, istft, stft

Separator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # mixture -> (vocals, accompaniment)


def bss_eval_voice(
    vocals: np.ndarray, accompaniment: np.ndarray, vocals_estimate: np.ndarray, accompaniment_estimate: np.ndarray
) -> dict[str, float]:
    """SDR, SIR, SAR (dB) of the voice estimate, judged against both references; all (samples,) arrays.

    The same computation as `mir_eval.separation.bss_eval_sources` (BSS-eval v3, 512-tap distortion filters)
    restricted to the voice: scoring the accompaniment too would double the cost for numbers nobody reads.
    The accompaniment estimate is accepted so callers state both outputs; v3 scores each source on its own.
    """
    references = np.stack([vocals, accompaniment]).astype(np.float64)
    estimate = np.asarray(vocals_estimate, np.float64)
    mir_eval.separation.validate(references, np.stack([estimate, np.asarray(accompaniment_estimate, np.float64)]))
    parts = mir_eval.separation._bss_decomp_mtifilt(references, estimate, 0, 512)
    sdr, sir, sar = mir_eval.separation._bss_source_crit(*parts)
    return {"sdr": float(sdr), "sir": float(sir), "sar": float(sar)}


def mixture_baseline(mixture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Doing nothing: both estimates are half the mixture (the scale does not change BSS-eval scores)."""
    return mixture / 2, mixture / 2


def repet_sim(mixture: np.ndarray, sr: int = SAMPLE_RATE) -> tuple[np.ndarray, np.ndarray]:
    """REPET-SIM (Rafii & Pardo 2012) as in librosa's vocal separation example: the accompaniment repeats,
    so the median of each frame's nearest neighbours (cosine, >= 2 s apart) estimates it; soft masks follow."""
    spectrum = stft(mixture).T
    magnitude = np.abs(spectrum)
    # librosa wants width < (frames - 1) // 2: clips under 4 s get a narrower one
    width = min(int(librosa.time_to_frames(2, sr=sr, hop_length=512)), (magnitude.shape[1] - 1) // 2 - 1)
    repeating = librosa.decompose.nn_filter(magnitude, aggregate=np.median, metric="cosine", width=max(width, 1))
    repeating = np.minimum(magnitude, repeating)
    mask = librosa.util.softmask(magnitude - repeating, 10 * repeating, power=2)
    vocals = istft((mask * spectrum).T, len(mixture))
    return vocals, mixture - vocals


def ideal_ratio_mask(clip: Clip) -> tuple[np.ndarray, np.ndarray]:
    """The oracle of this model class: the soft mask |V| / (|V| + |A|) computed from the true sources."""
    vocals, accompaniment = stft(clip.vocals), stft(clip.accompaniment)
    mask = np.abs(vocals) / (np.abs(vocals) + np.abs(accompaniment) + 1e-8)
    estimate = istft(mask * (vocals + accompaniment), len(clip.vocals))
    return estimate, clip.mixture - estimate


def score_clips(
    clips: list[Clip], methods: dict[str, Callable[[Clip], tuple[np.ndarray, np.ndarray]]], progress: bool = False
) -> dict[str, dict]:
    """Per-clip NSDR/SIR/SAR of each method and the length-weighted GNSDR/GSIR/GSAR.

    Returns {method: {"gnsdr", "gsir", "gsar", "clips": [{"name", "seconds", "nsdr", "sdr", "sir", "sar"}]}}.
    """
    from tqdm import tqdm

    results: dict[str, dict] = {name: {"clips": []} for name in methods}
    for clip in tqdm(clips, desc="BSS-eval", unit="clip", disable=not progress):
        mixture_sdr = bss_eval_voice(clip.vocals, clip.accompaniment, *mixture_baseline(clip.mixture))["sdr"]
        for name, method in methods.items():
            scores = bss_eval_voice(clip.vocals, clip.accompaniment, *method(clip))
            results[name]["clips"].append(
                {"name": clip.name, "seconds": clip.seconds, "nsdr": scores["sdr"] - mixture_sdr, **scores}
            )
    for result in results.values():
        weights = np.array([c["seconds"] for c in result["clips"]])
        for key, metric in (("gnsdr", "nsdr"), ("gsir", "sir"), ("gsar", "sar")):
            values = np.array([c[metric] for c in result["clips"]])
            result[key] = float(np.sum(weights * values) / np.sum(weights))
    return results
