"""Sung voices from recorded speakers: Festival's singing mode, made to sound sung.

General MIDI voice patches are too unlike a human singer for a model trained on them to carry over to real
songs. Festival's diphone voices are cut from recordings of real speakers, and its singing mode
(`text2wave -mode singing`) holds each syllable for a given time at a given pitch. That singing is flat and
dry, so `expressive` adds what a singer does: vibrato that grows into long notes, slow pitch drift, scoops
into some notes, breaths between phrases, loudness phrasing and a little room.

Festival's pitch-synchronous synthesis crashes above ~500 Hz, so the melody is sung an octave below the
written soprano line (alto range for the women's voices, tenor range for the men's) and its piece is
transposed, when needed, so that the top note stays below B4 (494 Hz). Each line is sung in its own
process: a crash (SIGSEGV happens on some syllable sequences) is retried with other syllables, then reported.
Install: `apt-get install festival` plus the voice packages of `FESTIVAL_VOICES`.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
from scipy import ndimage, signal

from toolkit.errors import ToolkitError
from toolkit.separation.notes import Note
from toolkit.separation.reverb import room


@dataclass(frozen=True)
class FestivalVoice:
    name: str  # Festival's voice function
    package: str  # the Debian package that installs it
    speaker: str
    held_out: bool = False  # never sung in training: the test figures on unseen voices


FESTIVAL_VOICES = (
    FestivalVoice("voice_kal_diphone", "festvox-kallpc16k", "US English, male"),
    FestivalVoice("voice_pc_diphone", "festvox-itapc16k", "Italian, male"),
    FestivalVoice("voice_lp_diphone", "festvox-italp16k", "Italian, female"),
    FestivalVoice("voice_czech_dita", "festvox-czech-dita", "Czech, female"),
    FestivalVoice("voice_czech_machac", "festvox-czech-machac", "Czech, male"),
    FestivalVoice("voice_hy_fi_mv_diphone", "festvox-suopuhe-mv", "Finnish, male"),
    FestivalVoice("voice_ked_diphone", "festvox-kdlpc16k", "US English, male", held_out=True),
    FestivalVoice("voice_suo_fi_lj_diphone", "festvox-suopuhe-lj", "Finnish, female", held_out=True),
)
SEEN_VOICES = tuple(v.name for v in FESTIVAL_VOICES if not v.held_out)
UNSEEN_VOICES = tuple(v.name for v in FESTIVAL_VOICES if v.held_out)
SYLLABLES = ("la", "na", "da", "ma", "no", "lo", "mi", "ra", "do", "ah", "oh", "lu", "ne", "sa", "ti", "ri", "vo", "ja")
TOP_PITCH = 71  # MIDI B4 (494 Hz): Festival's synthesis crashes above ~500 Hz
OCTAVE_DOWN = 12  # the written soprano line is sung this many semitones lower
ATTEMPTS = 3  # syllable draws tried per line before the line counts as failed
INSTALL_HINT = "apt-get install festival " + " ".join(v.package for v in FESTIVAL_VOICES)


class SingingFailed(ToolkitError):
    """Festival could not sing a line (it crashed or wrote nothing) with any of the syllables tried."""


def require_festival() -> str:
    """The path of `text2wave`, once every voice of `FESTIVAL_VOICES` is installed; else what to install."""
    path = shutil.which("text2wave")
    festival = shutil.which("festival")
    if path is None or festival is None:
        raise ToolkitError(f"The sung-voice corpus needs Festival's text2wave. Install it: {INSTALL_HINT}")
    listed = subprocess.run([festival, "--batch", "(print (voice.list))"], capture_output=True, text=True).stdout
    installed = listed.replace("(", " ").replace(")", " ").split()
    missing = [v.package for v in FESTIVAL_VOICES if v.name.removeprefix("voice_") not in installed]
    if missing:
        raise ToolkitError(f"Festival voices are missing: apt-get install {' '.join(missing)}")
    return path


def singing_xml(notes: list[Note], syllables: list[str]) -> str:
    """Festival's SINGING markup: a rest before each gap, then one syllable per note at the note's pitch."""
    lines = [
        '<?xml version="1.0"?>',
        '<!DOCTYPE SINGING PUBLIC "-//SINGING//DTD SINGING mark up//EN" "Singing.v0_1.dtd" []>',
        '<SINGING BPM="60">',
    ]
    now = 0.0
    for note, syllable in zip(notes, syllables):
        if note.start > now + 1e-3:
            lines.append(f'<REST SECONDS="{note.start - now:.3f}"></REST>')
        hz, seconds = 440.0 * 2 ** ((note.pitch - 69) / 12), note.end - note.start
        lines.append(f'<PITCH FREQ="{hz:.2f}"><DURATION SECONDS="{seconds:.3f}">{syllable}</DURATION></PITCH>')
        now = note.end
    lines.append("</SINGING>")
    return "\n".join(lines)


def sing_line(notes: list[Note], voice: str, rng: np.random.Generator, sr: int, seconds: float) -> np.ndarray:
    """`seconds` of mono float32 audio at `sr`: Festival singing `notes` (monophonic, in seconds) with `voice`."""
    text2wave = shutil.which("text2wave") or require_festival()
    if max(n.pitch for n in notes) > TOP_PITCH:
        raise ValueError(f"Festival cannot sing above MIDI {TOP_PITCH}; transpose the line first.")
    errors = []
    with tempfile.TemporaryDirectory(prefix="toolkit-festival-") as tmp:
        score, wav = Path(tmp) / "line.xml", Path(tmp) / "line.wav"
        for _ in range(ATTEMPTS):
            score.write_text(singing_xml(notes, list(rng.choice(SYLLABLES, size=len(notes)))))
            cmd = [text2wave, "-mode", "singing", str(score), "-o", str(wav), "-eval", f"({voice})"]
            try:
                done = subprocess.run(cmd, capture_output=True, timeout=120)
            except subprocess.TimeoutExpired:
                errors.append("timed out")
                continue
            if done.returncode == 0 and wav.exists() and wav.stat().st_size > 44:
                audio, rate = sf.read(wav, dtype="float32")
                break
            errors.append(f"exit {done.returncode}: {done.stderr.decode(errors='replace').strip()[-200:]}")
        else:
            raise SingingFailed(f"Festival ({voice}) failed {ATTEMPTS} times: {'; '.join(errors)}")
    if rate != sr:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=sr, res_type="soxr_hq")
    out = np.zeros(int(round(seconds * sr)), np.float32)
    out[: min(len(out), len(audio))] = audio[: len(out)]
    return out


def monophonic(notes: list[Note]) -> list[Note]:
    """The top note of each onset, and no overlaps: a singer sings one note at a time."""
    by_start: dict[float, Note] = {}
    for n in notes:
        if n.start not in by_start or n.pitch > by_start[n.start].pitch:
            by_start[n.start] = n
    line = sorted(by_start.values(), key=lambda n: n.start)
    return [dataclasses.replace(n, end=min(n.end, nxt.start)) for n, nxt in zip(line, line[1:])] + line[-1:]


def breathing_rests(notes: list[Note], rng: np.random.Generator) -> list[Note]:
    """Shorten a long note every 3-7 s so the singer can breathe (chorale melodies are written without rests)."""
    out, since = [], 0.0
    for i, n in enumerate(notes):
        length = n.end - n.start
        following = notes[i + 1].start if i + 1 < len(notes) else n.end
        if n.start - since > rng.uniform(3, 7) and length >= 0.5 and following - n.end < 0.2:
            cut = min(0.4 * length, rng.uniform(0.2, 0.4))
            n = dataclasses.replace(n, end=n.end - cut)
            since = following
        out.append(n)
    return out


def pitch_curve(notes: list[Note], n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Per-sample pitch deviation in cents: slow drift, plus per note a scoop into it and a growing vibrato."""
    t = np.arange(n) / sr
    knots = rng.standard_normal(int(n / sr * 2) + 2).cumsum()
    knots -= knots.mean()
    drift = np.interp(t, np.arange(len(knots)) / 2, knots)
    cents = rng.uniform(3, 12) * drift / (np.abs(drift).max() + 1e-9)
    rate, depth = rng.uniform(4.8, 6.5), rng.uniform(15, 60)
    onset = rng.uniform(0.12, 0.35)
    for note in notes:
        i0, i1 = int(note.start * sr), min(n, int(note.end * sr))
        if i1 <= i0:
            continue
        local = t[i0:i1] - note.start
        growth = np.clip((local - onset) / 0.25, 0, 1)
        cents[i0:i1] += depth * rng.uniform(0.7, 1.2) * growth * np.sin(2 * np.pi * rate * local)
        if rng.random() < 0.4:  # a scoop: start flat and slide up to the note
            cents[i0:i1] -= rng.uniform(30, 100) * np.exp(-local / rng.uniform(0.03, 0.08))
    return cents


def bend_pitch(audio: np.ndarray, notes: list[Note], cents: np.ndarray, sr: int) -> np.ndarray:
    """Read `audio` at a varying speed so its pitch follows `cents`; each note keeps its start and end."""
    speed = 2 ** (cents / 1200)
    for note in notes:  # within a note the mean speed is 1, so the timeline (and the beat) is kept
        i0, i1 = int(note.start * sr), min(len(audio), int(note.end * sr))
        if i1 > i0:
            speed[i0:i1] /= speed[i0:i1].mean()
    position = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    return np.interp(position, np.arange(len(audio)), audio).astype(np.float32)


def phrasing(n: int, notes: list[Note], sr: int, rng: np.random.Generator) -> np.ndarray:
    """Loudness gain: slow swells of +-3 dB over phrases and a small accent per note, smoothed."""
    t = np.arange(n) / sr
    knots = rng.uniform(-3, 3, int(n / sr / 2) + 2)
    gain_db = np.interp(t, np.arange(len(knots)) * 2.0, knots)
    for note in notes:
        gain_db[int(note.start * sr) : int(note.end * sr)] += rng.uniform(-1.5, 1.5)
    return 10 ** (ndimage.uniform_filter1d(gain_db, int(0.05 * sr)) / 20)


def add_breaths(audio: np.ndarray, notes: list[Note], sr: int, rng: np.random.Generator) -> np.ndarray:
    """A breath (band-passed noise, rising then falling) in each gap of 0.2 s or more before a note."""
    out = audio.copy()
    level = np.sqrt(np.mean(audio**2)) + 1e-9
    band = signal.butter(2, [600, min(6000, sr / 2 - 100)], btype="bandpass", fs=sr, output="sos")
    previous_end = 0.0
    for note in notes:
        gap = note.start - previous_end
        previous_end = note.end
        if gap < 0.2:
            continue
        length = int(min(gap - 0.05, rng.uniform(0.2, 0.45)) * sr)
        end = int((note.start - 0.03) * sr)
        if length <= 0 or end - length < 0:
            continue
        noise = signal.sosfilt(band, rng.standard_normal(length))
        envelope = np.sin(np.pi * np.linspace(0, 1, length) ** 0.7)
        breath = noise * envelope / (np.sqrt(np.mean(noise**2)) + 1e-9)
        out[end - length : end] += (level * 10 ** (rng.uniform(-26, -16) / 20) * breath).astype(np.float32)
    return out


def expressive(audio: np.ndarray, notes: list[Note], sr: int, rng: np.random.Generator) -> np.ndarray:
    """Festival's flat, dry singing made to sound sung: pitch life, phrasing, breaths and a small room."""
    bent = bend_pitch(audio, notes, pitch_curve(notes, len(audio), sr, rng), sr)
    shaped = add_breaths(bent * phrasing(len(bent), notes, sr, rng), notes, sr, rng)
    return room(shaped, sr, rng, wet=rng.uniform(0.1, 0.35), decay=rng.uniform(0.04, 0.15)).astype(np.float32)


def sing(notes: list[Note], voice: str, sr: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A Festival voice singing the melody `notes` (already transposed to its range) expressively."""
    line = breathing_rests(monophonic(notes), rng)
    return expressive(sing_line(line, voice, rng, sr, seconds), line, sr, rng)
