"""Separation: does a model carry over to voices it never heard? Model files side by side, in one run.

python -m bench.separation_models NAME=FILE.keras [NAME=FILE.keras ...]
    ->  bench/results/separation_models.json and .md

Each model is scored as `python -m toolkit.evaluate task=separation` scores it: on MIR-1K's dev singers (annar
and tammy, real singing never heard in training; where MIR-1K is in the data directory) and on the rendered
corpus (BSS-eval on the first 15 s of 16 test pieces), sung by voices heard in training (`test`, Festival voices
and GM patches) and by Festival voices held out of training (`test_unseen`). Also the shipped example song
(`toolkit/separation/example_song.ogg`, 44.1 kHz stereo): SDR/SIR/SAR of the vocal stem against the stems it
was rendered from, full band, mean of the two channels. Hidden units, parameters and training time come
from the card beside each file (or its run folder's metrics.json) when there is one.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from bench.common import write_results
from toolkit import saving, tasks
from toolkit.data.paths import data_dir
from toolkit.separation import separate
from toolkit.separation.evaluation import bss_eval_voice, mixture_baseline
from toolkit.separation.example_song import EXAMPLE_SONG, render_stems


def example_song_scores(model) -> dict[str, float]:
    """SDR/SIR/SAR/NSDR (dB) of the vocal stem of the example song, mean over its two channels."""
    truth = render_stems()
    stems = separate(EXAMPLE_SONG, model=model)
    scores = []
    for channel in range(2):
        vocals, accompaniment = truth["vocals"][:, channel], truth["accompaniment"][:, channel]
        n = min(len(vocals), len(stems["vocals"]))
        estimate = bss_eval_voice(
            vocals[:n], accompaniment[:n], stems["vocals"][:n, channel], stems["accompaniment"][:n, channel]
        )
        nothing = bss_eval_voice(vocals[:n], accompaniment[:n], *mixture_baseline(vocals[:n] + accompaniment[:n]))
        scores.append({**estimate, "nsdr": estimate["sdr"] - nothing["sdr"]})
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def main(argv: list[str]) -> None:
    if not argv or any("=" not in word for word in argv):
        raise SystemExit(__doc__.split("\n\n")[1])
    task = tasks.get("separation")
    config = OmegaConf.structured(task.Config(verbose=0, dataset="rendered"))  # auto would pick MIR-1K
    mir1k = OmegaConf.structured(task.Config(verbose=0, dataset="mir1k"))
    has_mir1k = (data_dir(None) / "MIR-1K" / "Wavfile").is_dir()
    rows = []
    for word in argv:
        name, path = word.split("=", 1)
        model = saving.load_model(path)
        # the card: beside a shipped file, or a run folder's metrics.json
        cards = [Path(path).with_suffix(".json"), Path(path).parent / "metrics.json"]
        card = next((json.loads(file.read_text()) for file in cards if file.exists()), {})
        metrics = task.evaluate(model, config).metrics
        real = task.evaluate(model, mir1k).metrics if has_mir1k else {}
        song = example_song_scores(model)
        rows.append(
            {
                "model": name,
                "trained on": card.get("data", {}).get("name", ""),
                "hidden units": card.get("config", {}).get("hidden", ""),
                "parameters": model.count_params(),
                "training minutes": round(card["training_seconds"] / 60, 1) if "training_seconds" in card else "",
                "MIR-1K dev GNSDR (dB)": real.get("gnsdr", float("nan")),
                "MIR-1K dev GSIR (dB)": real.get("gsir", float("nan")),
                "MIR-1K dev GSAR (dB)": real.get("gsar", float("nan")),
                "GNSDR seen voices (dB)": metrics["gnsdr"],
                "GNSDR unseen voices (dB)": metrics.get("gnsdr_unseen", float("nan")),
                "GSIR unseen (dB)": metrics.get("gsir_unseen", float("nan")),
                "GSAR unseen (dB)": metrics.get("gsar_unseen", float("nan")),
                "example song SDR (dB)": song["sdr"],
                "example song NSDR (dB)": song["nsdr"],
            }
        )
        print(rows[-1])
    notes = (
        "MIR-1K dev: all 50 clips of annar and tammy, voice and music at 0 dB, GNSDR weighted by clip length; "
        "rendered corpus: 16 test pieces x 15 s per voice group; BSS-eval v3; "
        "example song full band at 44.1 kHz, mean of channels"
    )
    print(write_results("separation_models", rows, notes))


if __name__ == "__main__":
    main(sys.argv[1:])
