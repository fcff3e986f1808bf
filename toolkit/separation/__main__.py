"""`python -m toolkit.separation song.wav [--out DIR] [--model FILE.keras]`: write vocals.wav and accompaniment.wav.

The stems are 32-bit float WAV files at the song's own sample rate and channel count, and they add up to the song
(see `toolkit.separation.separate`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import soundfile as sf

from toolkit import saving
from toolkit.errors import ToolkitError
from toolkit.separation import separate
from toolkit.separation.predict import READABLE


def main(argv: Sequence[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(prog="python -m toolkit.separation", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("song", help=f"an audio file ({READABLE}); the stems keep its rate and channels")
    parser.add_argument("--out", default=None, help="output folder (default: <song name>_separated/ beside it)")
    parser.add_argument("--model", default=None, help="a trained .keras model (default: the shipped one)")
    args = parser.parse_args(argv)
    song = Path(args.song)
    out = Path(args.out) if args.out else song.with_name(f"{song.stem}_separated")
    try:
        model = saving.load_model(args.model) if args.model else None
        stems = separate(song, model=model)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name in ("vocals", "accompaniment"):
            path = out / f"{name}.wav"
            sf.write(path, stems[name], stems["sr"], subtype="FLOAT")  # float: the two still add up to the song
            written.append(path)
    except ToolkitError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    except OSError as err:
        print(f"error: cannot write to {out}: {err}", file=sys.stderr)
        raise SystemExit(2) from err
    channels = stems["vocals"].shape[1]
    print(f"Wrote {', '.join(str(p) for p in written)} ({stems['sr']} Hz, {channels} channel(s)).")
    return written


if __name__ == "__main__":
    main()
