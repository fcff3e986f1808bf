"""Render a singing-voice separation corpus from real scores: `python -m toolkit.separation.render`.

Real vocal stems (MIR-1K, MUSDB18) cannot be downloaded on the build machines, so, as Slakh does for
instruments, we synthesise stems from symbolic music: every Bach chorale in music21's bundled corpus
gives a "voice" (the soprano line, played with a vocal patch: Choir Aahs, Voice Oohs, Synth Voice) and an
accompaniment (alto, tenor and bass lines on piano/organ/strings/guitar/bass patches, sometimes drums).
Each piece gets a random transposition, tempo, patch set and gain; the stems are mixed at 0 dB.

Layout written (MUSDB18-like, 16 kHz mono PCM-16):
    <out>/{train,valid,test}/<piece>/{vocals,accompaniment}.wav   and   <out>/manifest.json
Pieces, not clips, are split, so no melody of the test split is heard in training. The same seed and
soundfont give the same corpus.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from toolkit import io
from toolkit.errors import DataNotFoundError, ToolkitError
from toolkit.separation.data import DEFAULT_CORPUS, SPLITS
from toolkit.separation.stft import SAMPLE_RATE

SOUNDFONT_DIRS = [Path("/usr/share/sounds/sf2"), Path("/usr/share/soundfonts")]
SOUNDFONTS = ["FluidR3_GM.sf2", "default-GM.sf2", "TimGM6mb.sf2"]
VOICE_PATCHES = [52, 53, 54]  # GM: Choir Aahs, Voice Oohs, Synth Voice
ACCOMPANIMENT_PATCHES = [0, 1, 2, 4, 16, 17, 19, 24, 25, 46, 48, 49, 50, 56, 61, 68, 71, 88]  # keys, organs,
# guitars, harp, strings, brass, reeds, pads
BASS_PATCHES = [32, 33, 34, 35, 42, 43, 58, 70]  # acoustic/electric basses, cello, contrabass, tuba, bassoon
DRUM_KEYS = {"kick": 36, "snare": 38, "hihat": 42}
STEMS = ("vocals", "accompaniment")
RELEASE_SECONDS = 1.0  # rendered after the last note so reverb tails end inside the clip


class SkippedPiece(Exception):
    """A score that cannot give a voice and an accompaniment (e.g. a single line); it is left out."""


@dataclass
class Note:
    start: float  # seconds
    end: float  # seconds
    pitch: int  # MIDI number
    velocity: int  # 1-127


def find_soundfont(path: str | None = None) -> Path:
    """The given soundfont, else the first General MIDI soundfont installed by Debian's packages."""
    if path:
        if not Path(path).is_file():
            raise DataNotFoundError(f"No soundfont at {path}.")
        return Path(path)
    for folder in SOUNDFONT_DIRS:
        for name in SOUNDFONTS:
            if (folder / name).is_file():
                return folder / name
    raise DataNotFoundError(
        "No General MIDI soundfont found. Install one (apt-get install fluid-soundfont-gm) "
        "or pass --soundfont FILE.sf2."
    )


def chorale_paths() -> list[Path]:
    """Every Bach chorale score in music21's corpus (BWV files; not the Roman-numeral analyses), in a fixed order."""
    from music21 import corpus

    return sorted(Path(p) for p in corpus.getComposer("bach") if Path(p).stem.startswith("bwv"))


def split_of(index: int, count: int, seed: int) -> str:
    """Train/valid/test by piece: a seeded permutation gives 85% / 5% / 10%."""
    rank = int(np.random.default_rng([seed, 1]).permutation(count)[index])  # independent of the render order
    return "test" if rank < count // 10 else "valid" if rank < count // 10 + count // 20 else "train"


def score_notes(path: Path, rng: np.random.Generator, max_seconds: float) -> tuple[list[Note], list[list[Note]], dict]:
    """Soprano notes and the other vocal lines' notes in seconds, at a random tempo and transposition."""
    from music21 import converter

    score = converter.parse(str(path))
    parts = [p for p in score.parts if p.partName in ("Soprano", "Alto", "Tenor", "Bass")] or list(score.parts)[:4]
    bpm = float(rng.uniform(60, 120))
    shift = int(rng.integers(-4, 5))
    beat = 60.0 / bpm

    def notes(part) -> list[Note]:
        out = []
        for n in part.stripTies().flatten().notes:
            start, end = float(n.offset) * beat, float(n.offset + n.quarterLength) * beat
            if start >= max_seconds:
                break
            for pitch in n.pitches:
                out.append(Note(start, min(end, max_seconds), int(pitch.midi) + shift, int(rng.integers(70, 110))))
        return out

    lines = [notes(p) for p in parts]
    info = {"bpm": round(bpm, 1), "transpose": shift, "parts": [p.partName for p in parts]}
    return lines[0], [line for line in lines[1:] if line], info


def drum_notes(seconds: float, bpm: float, rng: np.random.Generator) -> list[Note]:
    """A plain rock beat: kick on beats 1 and 3, snare on 2 and 4, closed hi-hat on eighths."""
    beat, out = 60.0 / bpm, []
    for i in range(int(seconds / (beat / 2))):
        t = i * beat / 2
        out.append(Note(t, t + 0.1, DRUM_KEYS["hihat"], int(rng.integers(50, 80))))
        if i % 2 == 0:
            key = DRUM_KEYS["kick"] if (i // 2) % 2 == 0 else DRUM_KEYS["snare"]
            out.append(Note(t, t + 0.1, key, int(rng.integers(80, 115))))
    return out


class Renderer:
    """One FluidSynth instance (the soundfont is loaded once) that renders note lists to mono audio."""

    def __init__(self, soundfont: Path, sr: int = SAMPLE_RATE):
        try:
            import fluidsynth
        except ImportError as err:  # pyfluidsynth missing, or the FluidSynth C library
            raise ToolkitError(
                f"Rendering needs FluidSynth: pip install pyfluidsynth; apt-get install fluidsynth ({err})."
            ) from err
        self.sr = sr
        self.synth = fluidsynth.Synth(samplerate=float(sr), gain=0.5)
        self.sfid = self.synth.sfload(str(soundfont))
        if self.sfid < 0:
            raise DataNotFoundError(f"FluidSynth cannot read the soundfont {soundfont}.")

    def render(self, tracks: list[tuple[int, int, list[Note]]], seconds: float) -> np.ndarray:
        """Mix `(channel, program, notes)` tracks (channel 9 = drums) into `seconds` of float32 mono audio."""
        self.synth.system_reset()
        events = []
        for channel, program, notes in tracks:
            self.synth.program_select(channel, self.sfid, 128 if channel == 9 else 0, program)
            for n in notes:
                events.append((n.start, 1, channel, n.pitch, n.velocity))
                events.append((n.end, 0, channel, n.pitch, 0))  # note-offs sort before note-ons at a time
        events.sort()
        total = int(round(seconds * self.sr))
        chunks, done = [], 0
        for t, on, channel, pitch, velocity in events:
            sample = min(int(round(t * self.sr)), total)
            if sample > done:
                chunks.append(self.synth.get_samples(sample - done))
                done = sample
            if on:
                self.synth.noteon(channel, pitch, velocity)
            else:
                self.synth.noteoff(channel, pitch)
        if total > done:
            chunks.append(self.synth.get_samples(total - done))
        stereo = np.concatenate(chunks).astype(np.float32).reshape(-1, 2) / 32768.0
        return stereo.mean(axis=1)

    def close(self) -> None:
        self.synth.delete()


def render_piece(
    renderer: Renderer | None, path: Path, rng: np.random.Generator, max_seconds: float
) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """(vocals, accompaniment, settings) of one chorale, mixed at 0 dB with a random overall gain.

    Without a renderer only the settings are drawn (the same random draws, so a resumed render matches).
    """
    voice, others, info = score_notes(path, rng, max_seconds)
    if not voice or not others:
        raise SkippedPiece(f"{path.name}: no melody with accompaniment in its first {max_seconds:.0f} s")
    end = max(n.end for line in [voice, *others] for n in line)
    seconds = min(end + RELEASE_SECONDS, max_seconds)
    voice_patch = int(rng.choice(VOICE_PATCHES))
    patches = [int(rng.choice(ACCOMPANIMENT_PATCHES)) for _ in others[:-1]] + [int(rng.choice(BASS_PATCHES))]
    tracks = [(channel + 1, patch, line) for channel, (patch, line) in enumerate(zip(patches, others))]
    drums = bool(rng.random() < 0.4)
    if drums:
        tracks.append((9, 0, drum_notes(seconds - RELEASE_SECONDS, info["bpm"], rng)))
    peak_dbfs = rng.uniform(-9, -1)
    info.update(
        seconds=round(seconds, 3),
        voice_patch=voice_patch,
        accompaniment_patches=patches,
        drums=drums,
        peak_dbfs=round(float(peak_dbfs), 2),
    )
    if renderer is None:
        return None, None, info
    vocals = renderer.render([(0, voice_patch, voice)], seconds)
    accompaniment = renderer.render(tracks, seconds)
    vocals_rms, accompaniment_rms = _rms(vocals), _rms(accompaniment)
    if vocals_rms < 1e-5 or accompaniment_rms < 1e-5:
        raise ToolkitError(f"{path.name}: a stem rendered silent (soundfont without the needed patches?).")
    accompaniment *= vocals_rms / accompaniment_rms  # 0 dB voice-to-accompaniment ratio, as in the paper
    gain = 10 ** (peak_dbfs / 20) / np.abs(vocals + accompaniment).max()
    return vocals * gain, accompaniment * gain, info


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def render_corpus(
    out: str | Path = DEFAULT_CORPUS,
    hours: float = 2.0,
    max_seconds: float = 30.0,
    seed: int = 0,
    soundfont: str | None = None,
    pieces: int | None = None,
    progress: bool = True,
    resume: bool = False,
) -> dict:
    """Render chorales (in a seeded order) until `hours` of audio or `pieces` pieces; returns the manifest.

    `resume` keeps pieces whose two stems are already on disk (an interrupted render continues).
    """
    from tqdm import tqdm

    out = Path(out)
    font = find_soundfont(soundfont)
    paths = chorale_paths()
    order = np.random.default_rng(seed).permutation(len(paths))[: pieces or len(paths)]
    renderer = Renderer(font)
    manifest = {
        "seed": seed,
        "soundfont": font.name,
        "sample_rate": SAMPLE_RATE,
        "hours_requested": hours,
        "max_seconds": max_seconds,
        "pieces": [],
        "skipped": [],
    }
    total, start = 0.0, time.perf_counter()
    bar = tqdm(order, desc="Rendering", unit="piece", disable=not progress)
    try:
        for index in bar:
            path = paths[index]
            rng = np.random.default_rng([seed, int(index)])
            split = split_of(int(index), len(paths), seed)
            folder = out / split / path.stem.replace(".", "_")
            done = resume and all((folder / f"{stem}.wav").exists() for stem in STEMS)
            try:
                audio = render_piece(None if done else renderer, path, rng, max_seconds)
            except SkippedPiece as why:
                manifest["skipped"].append(str(why))
                continue
            info = audio[-1]
            if not done:
                folder.mkdir(parents=True, exist_ok=True)
                for stem, samples in zip(STEMS, audio):  # the second file's presence marks a finished piece
                    sf.write(folder / f"{stem}.wav", samples, SAMPLE_RATE, subtype="PCM_16")
            manifest["pieces"].append({"piece": path.name, "split": split, "folder": f"{split}/{folder.name}", **info})
            total += info["seconds"]
            bar.set_postfix(hours=f"{total / 3600:.2f}")
            if total >= hours * 3600:
                break
    finally:
        renderer.close()
    manifest["hours"] = round(total / 3600, 3)
    manifest["seconds_per_split"] = {
        s: round(sum(p["seconds"] for p in manifest["pieces"] if p["split"] == s), 1) for s in SPLITS
    }
    manifest["render_seconds"] = round(time.perf_counter() - start, 1)
    io.write_json(manifest, out / "manifest.json")  # atomic: a complete corpus has a complete manifest
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(DEFAULT_CORPUS), help="corpus folder (default: %(default)s)")
    parser.add_argument("--hours", type=float, default=2.0, help="stop after this much audio")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="cut each piece to this length")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--soundfont", default=None, help="a General MIDI .sf2 (default: FluidR3_GM)")
    parser.add_argument("--pieces", type=int, default=None, help="render at most this many pieces")
    parser.add_argument("--resume", action="store_true", help="keep pieces already rendered in --out")
    args = parser.parse_args()
    try:
        manifest = render_corpus(
            args.out, args.hours, args.max_seconds, args.seed, args.soundfont, args.pieces, resume=args.resume
        )
    except ToolkitError as err:
        raise SystemExit(f"error: {err}") from err
    print(
        f"Rendered {manifest['hours']:.2f} h ({manifest['seconds_per_split']} s per split) to {args.out} "
        f"in {manifest['render_seconds']:.0f} s."
    )


if __name__ == "__main__":
    main()
