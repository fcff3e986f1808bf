"""Singing-voice separation (Huang et al., ISMIR 2014): `separate(song)` -> vocals and accompaniment.

- predict.py: `separate(path_or_array, sr)`, the one entry point the CLI, the page and the evaluation call:
  it reads and checks the song, runs the network in chunks and lays its mask onto the song's own STFT.
- __main__.py: the command line, `python -m toolkit.separation song.wav --out stems/`.
- model.py: the DRNN / SRNN / BiGRU soft-mask networks and the discriminative loss.
- stft.py: the 16 kHz STFT the network hears, and the mask regridded to other rates.
- data.py: the data sets (`dataset=rendered|mir1k|musdb`) as (vocals, accompaniment) clips, MIR-1K split by
  singer and mixed at 0 dB, and training windows, as they are or remixed at random (what stretches MIR-1K's 24 min).
- evaluation.py: BSS-eval GNSDR / GSIR / GSAR, REPET-SIM, the ideal ratio mask and the mixture as baselines.
- render.py: the rendered corpus, Bach chorales through FluidSynth (`python -m toolkit.separation.render`),
  their melodies mostly sung by singer.py (Festival's voices of recorded speakers, made to sound sung);
  notes.py and reverb.py hold the notes and the small room both use.
- example_song.py: the page's example song, synthesised in numpy (`python -m toolkit.separation.example_song`).
"""

from toolkit.separation.predict import separate

__all__ = ["separate"]
