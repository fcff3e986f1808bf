"""Separation: split a song into singing voice and accompaniment with the DRNN soft-mask network.

The page opens on the shipped example song, so it needs no corpus on disk; a rendered test piece or an upload
can replace it. The stems come back at the song's own rate and channels and add up to it.
"""

import io

import numpy as np
import soundfile as sf
import streamlit as st
from matplotlib.figure import Figure

from toolkit import ui
from toolkit.errors import ToolkitError
from toolkit.separation import separate
from toolkit.separation.data import card_dataset, load_rendered, rendered_test_splits
from toolkit.separation.example_song import EXAMPLE_SONG
from toolkit.separation.predict import decode_audio, read_song
from toolkit.separation.stft import HOP, SAMPLE_RATE, stft_size

MAX_SECONDS = 5 * 60  # a song; longer uploads are refused (about 20 s of CPU per 3 minutes)
MAX_MEGABYTES = 50
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]
SOURCES = ["Example song", "Rendered test piece", "Upload"]
TRAINED_ON = {  # what each training data set is, in the caption
    "rendered": "Bach chorales whose melodies are mostly sung by Festival's voices of recorded speakers",
    "mir1k": "MIR-1K (karaoke clips of Chinese pop songs)",
    "mir1k+rendered": "MIR-1K (karaoke clips of Chinese pop songs) and the rendered Bach chorales",
    "musdb": "MUSDB18-HQ (full songs)",
}

st.title("Separation")
if not ui.require_shipped("separation"):
    st.stop()
model, card = ui.shipped_model("separation"), ui.shipped_card("separation")
metrics = card["metrics"]
unseen = f"; voices never heard in training: {metrics['gnsdr_unseen']:.2f} dB" if "gnsdr_unseen" in metrics else ""
dataset = card_dataset(card)
st.caption(
    f"`{card['variant']}` ({card['parameters']:,} parameters), trained on {card['data'].get('train_hours', '?')} h "
    f"of {TRAINED_ON.get(dataset, dataset)}. Test GNSDR "
    f"{metrics['gnsdr']:.2f} dB, GSIR {metrics['gsir']:.2f} dB, GSAR {metrics['gsar']:.2f} dB{unseen} "
    "(Huang et al. 2014 on MIR-1K: 7.45 / 13.08 / 9.68)."
)


@st.cache_data
def example_song() -> tuple[np.ndarray, int]:
    """The shipped example song: (samples, 2) float32 at 44.1 kHz."""
    return read_song(EXAMPLE_SONG)


@st.cache_data
def corpus_examples(corpus_dir: str | None) -> dict[str, np.ndarray]:
    """The rendered test pieces' mixtures (first 30 s, 16 kHz mono), named with who sings them; the pieces
    sung by held-out voices too, where the corpus has them."""
    examples = {}
    for split in rendered_test_splits(corpus_dir):
        for c in load_rendered(split, corpus_dir):
            who = f" · {c.singer.removeprefix('voice_')}" if c.singer else ""
            examples[c.name + who + (" (a voice never heard in training)" if split == "test_unseen" else "")] = (
                c.mixture[: 30 * SAMPLE_RATE]
            )
    return examples


def chosen_song(source: str) -> tuple[str, np.ndarray, int]:
    """(name, audio (samples,) or (samples, channels) float32, rate in Hz) of the song to separate."""
    if source == "Upload":
        uploaded = st.file_uploader(
            f"An audio file (up to {MAX_SECONDS // 60} minutes, {MAX_MEGABYTES} MB)", type=AUDIO_TYPES, key="upload"
        )
        if uploaded is None:
            st.info("Upload a song, or pick the example song.")
            st.stop()
        audio, rate = decode_audio(uploaded.getvalue(), max_bytes=MAX_MEGABYTES * 2**20)
        if len(audio) > MAX_SECONDS * rate:
            raise ToolkitError(
                f"The song is {len(audio) / rate / 60:.1f} minutes; the limit here is "
                f"{MAX_SECONDS // 60} minutes (the command line takes longer songs)."
            )
        return uploaded.name.rsplit(".", 1)[0], audio, rate
    if source == "Rendered test piece":
        examples = corpus_examples(card["config"].get("corpus_dir"))
        name = st.selectbox("Test piece (never heard in training)", list(examples), key="example")
        return name, examples[name], SAMPLE_RATE
    st.caption(
        "20 s synthesised by the toolkit (`python -m toolkit.separation.example_song`): a sung-like voice over "
        "chords, bass and drums, 44.1 kHz stereo."
    )
    return "example_song", *example_song()


def wav_bytes(audio: np.ndarray, rate: int) -> bytes:
    """16-bit WAV of (samples,) or (samples, channels) audio, clipped to [-1, 1] (a stem may overshoot a little)."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def spectrogram_figure(magnitude: np.ndarray, mask: np.ndarray) -> Figure:
    """The (frames, 513) mixture magnitude the network read, in dB, beside its (frames, 513) vocal mask."""
    figure = Figure(figsize=(11, 3.6), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    extent = [0, len(mask) * HOP / SAMPLE_RATE, 0, SAMPLE_RATE / 2000]
    decibels = 20 * np.log10(magnitude.T + 1e-6)
    image = left.imshow(decibels, origin="lower", aspect="auto", extent=extent, vmin=decibels.max() - 80, cmap="magma")
    figure.colorbar(image, ax=left, label="dB")
    image = right.imshow(mask.T, origin="lower", aspect="auto", extent=extent, vmin=0, vmax=1, cmap="viridis")
    figure.colorbar(image, ax=right, label="share of the voice")
    left.set(title="mixture (16 kHz mono, as the network hears it)", xlabel="seconds", ylabel="kHz")
    right.set(title="soft mask of the voice", xlabel="seconds")
    return figure


source = st.radio("Song", SOURCES, horizontal=True, key="source")
try:
    name, audio, rate = chosen_song(source)
    bar = st.progress(0.0, text="Separating...")
    stems = separate(
        audio,
        sr=rate,
        model=model,
        return_mask=True,
        progress=lambda done: bar.progress(done, text=f"Separating... {done:.0%}"),
    )
    bar.empty()
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

st.markdown("**mixture**")
st.audio(wav_bytes(audio, rate), format="audio/wav")
for column, label in zip(st.columns(2), ("vocals", "accompaniment")):
    data = wav_bytes(stems[label], rate)
    column.markdown(f"**{label}**")
    column.audio(data, format="audio/wav")
    column.download_button(
        f"Download {label} (WAV)",
        data,
        file_name=f"{name}_{label}.wav",
        mime="audio/wav",
        key=f"download_{label}",
        on_click="ignore",
    )
st.pyplot(spectrogram_figure(stems["magnitude"], stems["mask"]))
n_fft, hop = stft_size(rate)
st.caption(
    f"The network reads a 16 kHz mono STFT (1024-point Hann window, hop {HOP}: {SAMPLE_RATE / HOP:.2f} frames per "
    f"second). Its mask is laid onto each channel's STFT at {rate} Hz ({n_fft}-point window, hop {hop}: the same "
    "64 ms and 32 ms), so the stems keep the song's rate and channels and add up to it. Above 8 kHz, which the "
    "network never hears, everything stays in the accompaniment."
)
