"""Render a singing-voice separation corpus from real scores: `python -m toolkit.separation.render`.

Real vocal stems (MIR-1K, MUSDB18) cannot be downloaded on the build machines, so, as Slakh does for
instruments, we synthesise stems from symbolic music: every Bach chorale in music21's bundled corpus
gives a voice (the soprano line) and an accompaniment (alto, tenor and bass lines on piano/organ/strings/
guitar/bass patches, sometimes drums). The voice is, in 4 pieces of 5, sung by one of Festival's voices made
from recordings of real speakers (`toolkit.separation.singer`), else played with a General MIDI vocal patch
(Choir Aahs, Voice Oohs, Synth Voice). Each piece gets a random transposition, tempo, patch set and gain;
training stems are mixed at a voice-to-accompaniment ratio of -5 to +5 dB, test stems at 0 dB (the paper's).

Layout written (MUSDB18-like, 16 kHz mono PCM-16):
    <out>/{train,valid,test,test_unseen}/<piece>/{vocals,accompaniment}.wav   and   <out>/manifest.json
Pieces, not clips, are split, so no melody of the test split is heard in training. `test_unseen` renders the
test pieces again, sung by the Festival voices held out of training (`singer.UNSEEN_VOICES`): the measure of
how the model carries over to voices it never heard. The same seed and soundfont give the same corpus.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from toolkit import saving
from toolkit.errors import DataNotFoundError, ToolkitError
from toolkit.separation import singer
from toolkit.separation.data import CORPUS_VERSION, DEFAULT_CORPUS, RENDERING_MARKER, SPLITS
from toolkit.separation.notes import Note
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
FESTIVAL_SHARE = 0.8  # pieces sung by a Festival voice; the rest play a General MIDI vocal patch
TRAINING_RATIO_DB = 5.0  # training mixes draw the voice-to-accompaniment ratio from +-this; tests use 0 dB


class SkippedPiece(Exception):
    """A score that cannot give a voice and an accompaniment (e.g. a single line); it is left out."""


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


def score_notes(
    path: Path, rng: np.random.Generator, max_seconds: float, top_pitch: int | None = None
) -> tuple[list[Note], list[list[Note]], dict]:
    """Soprano notes and the other vocal lines' notes in seconds, at a random tempo and transposition.

    `top_pitch` lowers the transposition, if needed, so that the soprano's top note does not exceed it.
    """
    from music21 import converter

    score = converter.parse(str(path))
    parts = [p for p in score.parts if p.partName in ("Soprano", "Alto", "Tenor", "Bass")] or list(score.parts)[:4]
    bpm = float(rng.uniform(60, 120))
    shift = int(rng.integers(-4, 5))
    if top_pitch is not None and parts:
        highest = max((int(p.midi) for n in parts[0].flatten().notes for p in n.pitches), default=top_pitch)
        shift = min(shift, top_pitch - highest)
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


def draw_singer(rng: np.random.Generator, split: str) -> str:
    """Who sings the melody: a held-out Festival voice in `test_unseen`; else a seen one, or a GM vocal patch."""
    if split == "test_unseen":
        return str(rng.choice(singer.UNSEEN_VOICES))
    if rng.random() < FESTIVAL_SHARE:
        return str(rng.choice(singer.SEEN_VOICES))
    return f"gm:{int(rng.choice(VOICE_PATCHES))}"


def render_piece(
    renderer: Renderer | None, path: Path, rng: np.random.Generator, max_seconds: float, split: str = "train"
) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """(vocals, accompaniment, settings) of one chorale with a random overall gain, at a random
    voice-to-accompaniment ratio in training splits and at 0 dB in test splits.

    Without a renderer only the settings are drawn (the same random draws, so a resumed render matches).
    """
    voice_by = draw_singer(rng, split)
    festival = not voice_by.startswith("gm:")
    top = singer.TOP_PITCH + singer.OCTAVE_DOWN if festival else None
    voice, others, info = score_notes(path, rng, max_seconds, top_pitch=top)
    if not voice or not others:
        raise SkippedPiece(f"{path.name}: no melody with accompaniment in its first {max_seconds:.0f} s")
    end = max(n.end for line in [voice, *others] for n in line)
    seconds = min(end + RELEASE_SECONDS, max_seconds)
    patches = [int(rng.choice(ACCOMPANIMENT_PATCHES)) for _ in others[:-1]] + [int(rng.choice(BASS_PATCHES))]
    tracks = [(channel + 1, patch, line) for channel, (patch, line) in enumerate(zip(patches, others))]
    drums = bool(rng.random() < 0.4)
    if drums:
        tracks.append((9, 0, drum_notes(seconds - RELEASE_SECONDS, info["bpm"], rng)))
    peak_dbfs = rng.uniform(-9, -1)
    ratio_db = 0.0 if split.startswith("test") else float(rng.uniform(-TRAINING_RATIO_DB, TRAINING_RATIO_DB))
    voice_seed = int(rng.integers(2**31))
    info.update(
        seconds=round(seconds, 3),
        singer=voice_by,
        accompaniment_patches=patches,
        drums=drums,
        peak_dbfs=round(float(peak_dbfs), 2),
        voice_to_accompaniment_db=round(ratio_db, 2),
    )
    if renderer is None:
        return None, None, info
    if festival:
        melody = [dataclasses.replace(n, pitch=n.pitch - singer.OCTAVE_DOWN) for n in voice]
        try:
            vocals = singer.sing(melody, voice_by, SAMPLE_RATE, seconds, np.random.default_rng(voice_seed))
        except singer.SingingFailed as why:
            raise SkippedPiece(f"{path.name}: {why}") from why
    else:
        vocals = renderer.render([(0, int(voice_by[3:]), voice)], seconds)
    accompaniment = renderer.render(tracks, seconds)
    vocals_rms, accompaniment_rms = _rms(vocals), _rms(accompaniment)
    if vocals_rms < 1e-5 or accompaniment_rms < 1e-5:
        raise ToolkitError(f"{path.name}: a stem rendered silent (soundfont without the needed patches?).")
    accompaniment *= vocals_rms / accompaniment_rms / 10 ** (ratio_db / 20)
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
    """Render chorales (in a seeded order) until `hours` of audio and a piece in every split, or `pieces`
    pieces; returns the manifest. Each test piece is rendered twice: sung by a seen voice (or a GM patch) in
    `test` and by a held-out voice in `test_unseen`.

    `resume` keeps pieces whose two stems are already on disk (an interrupted render continues).
    """
    from tqdm import tqdm

    out = Path(out)
    font = find_soundfont(soundfont)
    singer.require_festival()
    paths = chorale_paths()
    order = np.random.default_rng(seed).permutation(len(paths))[: pieces or len(paths)]
    renderer = Renderer(font)
    out.mkdir(parents=True, exist_ok=True)
    (out / RENDERING_MARKER).touch()  # an interrupted render is continued by the next training run
    manifest = {
        "version": CORPUS_VERSION,
        "seed": seed,
        "soundfont": font.name,
        "sample_rate": SAMPLE_RATE,
        "hours_requested": hours,
        "max_seconds": max_seconds,
        "festival_voices": {"seen": list(singer.SEEN_VOICES), "unseen": list(singer.UNSEEN_VOICES)},
        "pieces": [],
        "skipped": [],
    }
    total, start = 0.0, time.perf_counter()
    bar = tqdm(order, desc="Rendering", unit="piece", disable=not progress)
    try:
        for index in bar:
            path = paths[index]
            split = split_of(int(index), len(paths), seed)
            seeds = [(split, [seed, int(index)])]  # a test piece again, with a held-out voice and its own draws:
            seeds += [("test_unseen", [seed, int(index), 1])] if split == "test" else []
            for version_split, piece_seed in seeds:
                rng = np.random.default_rng(piece_seed)
                folder = out / version_split / path.stem.replace(".", "_")
                done = resume and all((folder / f"{stem}.wav").exists() for stem in STEMS)
                try:
                    audio = render_piece(None if done else renderer, path, rng, max_seconds, version_split)
                except SkippedPiece as why:
                    manifest["skipped"].append(f"{version_split}: {why}")
                    continue
                info = audio[-1]
                if not done:
                    folder.mkdir(parents=True, exist_ok=True)
                    for stem, samples in zip(STEMS, audio):  # the second file's presence marks a finished piece,
                        saving.write_atomically(  # so neither may be half written when a run is killed
                            folder / f"{stem}.wav",
                            ".tmp.wav",
                            lambda tmp, samples=samples: sf.write(tmp, samples, SAMPLE_RATE, subtype="PCM_16"),
                        )
                folder_name = f"{version_split}/{folder.name}"
                manifest["pieces"].append({"piece": path.name, "split": version_split, "folder": folder_name, **info})
                total += info["seconds"]
            bar.set_postfix(hours=f"{total / 3600:.2f}", skipped=len(manifest["skipped"]))
            filled = {p["split"] for p in manifest["pieces"]} >= set(SPLITS)
            if total >= hours * 3600 and filled:
                break
    finally:
        renderer.close()
    manifest["hours"] = round(total / 3600, 3)
    manifest["seconds_per_split"] = {
        s: round(sum(p["seconds"] for p in manifest["pieces"] if p["split"] == s), 1) for s in SPLITS
    }
    manifest["render_seconds"] = round(time.perf_counter() - start, 1)
    saving.write_json(manifest, out / "manifest.json")  # atomic: a complete corpus has a complete manifest
    (out / RENDERING_MARKER).unlink()
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
        f"in {manifest['render_seconds']:.0f} s; {len(manifest['skipped'])} pieces skipped."
    )


if __name__ == "__main__":
    main()
