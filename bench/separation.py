"""Separation: time to separate a 3-minute song on this machine (target: under 20 s on 2 CPU cores).

python -m bench.separation  ->  bench/results/separation.json and .md

The song is the rendered test split's mixtures back to back, cut to 3 minutes (a synthetic mixture if
the corpus is not rendered). Rows: the shipped model (if trained/separation.keras exists) and the
paper-sized DRNN (1000 hidden units, untrained: the cost does not depend on the weights); REPET-SIM
(librosa) for comparison. `separate` includes the STFT, chunked network passes and the inverse STFT.
"""

import os

import numpy as np

from bench.common import best_time, write_results
from toolkit import pretrained
from toolkit.errors import DataNotFoundError
from toolkit.separation import separate
from toolkit.separation.data import load_rendered
from toolkit.separation.evaluation import repet_sim
from toolkit.separation.model import build_drnn
from toolkit.separation.stft import SAMPLE_RATE

SECONDS = 180


def three_minute_song() -> tuple[np.ndarray, str]:
    try:
        song = np.concatenate([clip.mixture for clip in load_rendered("test")])
        source = "rendered test split"
    except DataNotFoundError:
        t = np.arange(SECONDS * SAMPLE_RATE) / SAMPLE_RATE
        song = 0.1 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))
        source = "synthetic tone and noise"
    return np.tile(song, SECONDS * SAMPLE_RATE // len(song) + 1)[: SECONDS * SAMPLE_RATE].astype(np.float32), source


def main() -> None:
    song, source = three_minute_song()
    models = {"paper-size drnn (1000 units)": build_drnn(1000, context=1)}  # as `hidden=1000` trains it
    if "separation" in pretrained.list():
        models = {"shipped separation": pretrained.load("separation"), **models}
    rows = []
    for name, model in models.items():
        seconds = best_time(lambda model=model: separate(song, SAMPLE_RATE, model=model), repeats=2)
        rows.append(
            {
                "method": name,
                "parameters": model.count_params(),
                "seconds per 3-min song": seconds,
                "x real time": SECONDS / seconds,
            }
        )
    seconds = best_time(lambda: repet_sim(song), repeats=1)
    rows.append(
        {
            "method": "REPET-SIM (librosa)",
            "parameters": 0,
            "seconds per 3-min song": seconds,
            "x real time": SECONDS / seconds,
        }
    )
    load = os.getloadavg()[0]
    notes = f"song: {source}; CPU cores: {os.cpu_count()}; load average during the run: {load:.1f}"
    print(write_results("separation", rows, notes))
    for row in rows:
        print(row)
    print(notes)


if __name__ == "__main__":
    main()
