"""The example song the Separation page opens on, synthesised here so that it is the toolkit's own (same licence).

`python -m toolkit.separation.example_song` writes `toolkit/separation/example_song.ogg`: 20 s, 44.1 kHz stereo
OGG Vorbis (about 270 kB). Eight bars at 96 bpm in C major (C Am F G): a sung-like line (harmonics of a gliding,
vibrato-laden pitch shaped by the formants of the vowel sung on each note, plus breath) over broken chords,
bass, kick, snare and hi-hat, each stem with its own small room, mixed at 0 dB as the training corpus is.
Everything is numpy: no samples, no soundfont, no network.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import ndimage, signal

from toolkit.separation.reverb import room

EXAMPLE_SONG = Path(__file__).with_name("example_song.ogg")
RATE = 44100  # Hz: CD rate and stereo, so the page shows stems at a song's own rate, not the model's 16 kHz
BEAT = 60 / 96  # seconds per beat
BARS = 8

# (MIDI note or None for a breath, beats, vowel): two four-bar phrases, soprano range G4-G5 (392-784 Hz)
MELODY = [
    (67, 1, "a"), (72, 1, "o"), (76, 1.5, "a"), (74, 0.5, "e"),
    (72, 1, "i"), (69, 1, "a"), (76, 2, "o"),
    (77, 1, "a"), (76, 0.5, "e"), (74, 0.5, "a"), (72, 1, "o"), (69, 1, "u"),
    (71, 1, "a"), (74, 1, "e"), (74, 1.5, "a"), (None, 0.5, None),
    (76, 1, "o"), (79, 1, "a"), (76, 1, "e"), (72, 1, "a"),
    (72, 1, "i"), (76, 1, "a"), (69, 2, "o"),
    (69, 1, "a"), (72, 1, "e"), (71, 1, "o"), (74, 1, "a"),
    (72, 3.5, "a"), (None, 0.5, None),
]  # fmt: skip
# one chord per half bar (2 beats): (bass MIDI note, chord tones below the voice)
CHORD_TONES = {"C": (36, (55, 60, 64)), "Am": (33, (57, 60, 64)), "F": (41, (57, 60, 65)), "G": (43, (55, 59, 62))}
HALF_BARS = ["C", "C", "Am", "Am", "F", "F", "G", "G", "C", "C", "Am", "Am", "F", "G", "C", "C"]
# vowel -> formant frequencies (Hz), after Peterson and Barney's vowel measurements
VOWELS = {
    "a": (730, 1090, 2440),
    "e": (530, 1840, 2480),
    "i": (270, 2290, 3010),
    "o": (570, 840, 2410),
    "u": (300, 870, 2240),
}
FORMANT_WIDTHS = (90, 110, 170)  # Hz
FORMANT_GAINS = (1.0, 0.5, 0.25)
VOICE_TOP = 12000  # Hz: the highest harmonic sung; some of the voice lies above the model's 8 kHz, as in real songs


def hz(midi: float | np.ndarray) -> np.ndarray:
    """MIDI note number(s) -> frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * 2 ** ((np.asarray(midi) - 69) / 12)


def smooth(values: np.ndarray, seconds: float, sr: int) -> np.ndarray:
    """Moving average over `seconds` along axis 0: glides between notes and vowels instead of jumps."""
    return ndimage.uniform_filter1d(values, max(1, int(seconds * sr)), axis=0, mode="nearest")


def melody_tracks(n: int, sr: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-sample pitch (MIDI), gate (1 while singing), seconds since the note began and formants (n, 3) in Hz."""
    bounds = np.round(np.cumsum([0] + [beats for _, beats, _ in MELODY]) * BEAT * sr).astype(int)
    note = np.searchsorted(bounds, np.arange(n), side="right") - 1  # which MELODY entry each sample belongs to
    notes = np.array([np.nan if pitch is None else pitch for pitch, _, _ in MELODY])
    pitch = notes[note]
    rests = np.isnan(pitch)
    pitch[rests] = np.interp(np.flatnonzero(rests), np.flatnonzero(~rests), pitch[~rests])  # breathe on pitch
    formants = np.array([VOWELS[vowel or "a"] for _, _, vowel in MELODY], dtype=float)[note]
    since = (np.arange(n) - bounds[note]) / sr
    return smooth(pitch, 0.06, sr), (~rests).astype(float), since, smooth(formants, 0.08, sr)


def formant_gain(frequency: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Vocal-tract response at `frequency` (samples,) Hz for per-sample `formants` (samples, 3): resonance peaks."""
    gain = np.zeros_like(frequency)
    for i, (width, level) in enumerate(zip(FORMANT_WIDTHS, FORMANT_GAINS)):
        gain += level / np.sqrt(1 + ((frequency - formants[:, i]) / (width / 2)) ** 2)
    return gain


def voice(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """(n,) mono sung line: harmonics k * f0 (-6 dB/octave) through the vowel's formants, vibrato, breath."""
    pitch, gate, since, formants = melody_tracks(n, sr)
    t = np.arange(n) / sr
    vibrato = 0.35 * np.minimum(since / 0.4, 1.0) * np.sin(2 * np.pi * 5.5 * t)  # semitones, grows after onset
    wander = smooth(rng.standard_normal(n), 0.2, sr)
    drift = 0.08 * wander / wander.std()  # slow intonation wander: a few cents
    f0 = hz(pitch + vibrato + drift)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    out = np.zeros(n)
    top = min(VOICE_TOP, sr / 2)
    for k in range(1, int(top // f0.min()) + 1):
        out += (k * f0 < top) * formant_gain(k * f0, formants) * np.sin(k * phase) / k
    breath = signal.sosfilt(
        signal.butter(2, [800, min(6000, 0.45 * sr)], "bandpass", fs=sr, output="sos"), rng.standard_normal(n)
    )
    envelope = smooth(gate, 0.05, sr) * (1 - 0.25 * np.exp(-since / 0.05))  # soft onsets, a dip between notes
    return envelope * (out + 0.03 * breath / breath.std())


def pluck(frequency: float, seconds: float, sr: int, brightness: float = 1.3) -> np.ndarray:
    """A plucked or struck tone (electric-piano-like): harmonics whose decay is faster the higher they are."""
    t = np.arange(int(seconds * sr)) / sr
    tone = sum(
        np.sin(2 * np.pi * k * frequency * t) * np.exp(-t * (1.5 + 1.2 * k)) / k**brightness
        for k in range(1, 11)
        if k * frequency < sr / 2
    )
    return tone * np.minimum(t / 0.005, 1.0)


def drum(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One kick (falling sine), snare (tone and band noise) or hi-hat (noise above 6 kHz) hit."""
    t = np.arange(int(0.4 * sr)) / sr
    if kind == "kick":
        return np.sin(2 * np.pi * (50 * t + 70 * 0.04 * (1 - np.exp(-t / 0.04)))) * np.exp(-t / 0.15)
    noise = rng.standard_normal(len(t))
    if kind == "snare":
        band = signal.sosfilt(signal.butter(2, [1000, min(6000, 0.45 * sr)], "bandpass", fs=sr, output="sos"), noise)
        return (0.5 * np.sin(2 * np.pi * 185 * t) + band / band.std()) * np.exp(-t / 0.08) * 0.4
    high = signal.sosfilt(signal.butter(2, min(6000, 0.4 * sr), "highpass", fs=sr, output="sos"), noise)
    return high / high.std() * np.exp(-t / 0.03) * 0.15


def place(track: np.ndarray, seconds: float, sound: np.ndarray, sr: int) -> None:
    """Add `sound` into `track` starting at `seconds`, cut at the track's end."""
    start = int(round(seconds * sr))
    part = sound[: max(0, len(track) - start)]
    track[start : start + len(part)] += part


def accompaniment(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) stereo: bass and drums in the centre, broken chords left of centre, hi-hat to the right."""
    chords, bass, drums, hats = (np.zeros(n) for _ in range(4))
    for half, name in enumerate(HALF_BARS):
        root, tones = CHORD_TONES[name]
        start = 2 * half * BEAT
        place(bass, start, pluck(hz(root), 2 * BEAT, sr, brightness=2.0), sr)
        for eighth, tone in enumerate((0, 1, 2, 1)):
            place(chords, start + eighth * BEAT / 2, 0.5 * pluck(hz(tones[tone]), 1.5, sr), sr)
        place(drums, start, drum("kick", sr, rng), sr)
        place(drums, start + BEAT, drum("snare", sr, rng), sr)
        for eighth in range(4):
            place(hats, start + eighth * BEAT / 2, drum("hihat", sr, rng) * (1.0 if eighth % 2 else 0.5), sr)
    centre = bass + drums
    return np.stack([centre + 0.8 * chords + 0.4 * hats, centre + 0.5 * chords + 0.8 * hats], axis=1)


def render_stems(sr: int = RATE, seed: int = 0) -> dict[str, np.ndarray]:
    """{"vocals", "accompaniment"}: (samples, 2) float32 at `sr` Hz, 20 s, equal RMS; their sum peaks at -1 dBFS."""
    rng = np.random.default_rng(seed)
    n = int(BARS * 4 * BEAT * sr)
    vocals = room(np.repeat(voice(n, sr, rng)[:, None], 2, axis=1), sr, rng)
    backing = room(accompaniment(n, sr, rng), sr, rng)
    backing *= np.sqrt(np.mean(vocals**2) / np.mean(backing**2))  # 0 dB voice-to-accompaniment, like the corpus
    scale = 10 ** (-1 / 20) / np.abs(vocals + backing).max()
    return {"vocals": (scale * vocals).astype(np.float32), "accompaniment": (scale * backing).astype(np.float32)}


def write_example_song(path: str | Path = EXAMPLE_SONG) -> Path:
    """Render the song and write the mixture as OGG Vorbis (small enough to ship beside the code)."""
    stems = render_stems()
    sf.write(path, stems["vocals"] + stems["accompaniment"], RATE, format="OGG", subtype="VORBIS")
    return Path(path)


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m toolkit.separation.example_song", description=__doc__)
    parser.add_argument("--out", default=str(EXAMPLE_SONG), help=f"where to write it (default: {EXAMPLE_SONG})")
    path = write_example_song(parser.parse_args(argv).out)
    print(f"Wrote {path} ({path.stat().st_size / 1000:.0f} kB).")
    return path


if __name__ == "__main__":
    main()
