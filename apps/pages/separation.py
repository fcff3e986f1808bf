"""Separation: split a song into singing voice and accompaniment with the DRNN soft-mask network."""

import io

import matplotlib.pyplot as plt
import numpy as np
import soundfile as sf
import streamlit as st

from toolkit import ui
from toolkit.errors import ToolkitError
from toolkit.separation import separate
from toolkit.separation.data import load_rendered
from toolkit.separation.predict import decode_audio
from toolkit.separation.stft import HOP, SAMPLE_RATE, stft

MAX_SECONDS = 5 * 60  # a song; longer uploads are refused (about 20 s of CPU per 3 minutes)
MAX_MEGABYTES = 50
AUDIO_TYPES = ["wav", "flac", "ogg", "mp3"]

st.title("Separation")
if not ui.require_shipped("separation"):
    st.stop()
model, card = ui.shipped_model("separation"), ui.shipped_card("separation")
metrics = card["metrics"]
st.caption(
    f"`{card['variant']}` ({card['parameters']:,} parameters), trained on {card['data'].get('train_hours', '?')} h "
    f"of the rendered chorale corpus. Test GNSDR {metrics['gnsdr']:.2f} dB, GSIR {metrics['gsir']:.2f} dB, "
    f"GSAR {metrics['gsar']:.2f} dB (Huang et al. 2014 on MIR-1K: 7.45 / 13.08 / 9.68)."
)


@st.cache_data
def corpus_examples(corpus_dir: str | None) -> dict[str, np.ndarray]:
    """The rendered test pieces' mixtures (first 30 s)."""
    return {c.name: c.mixture[: 30 * SAMPLE_RATE] for c in load_rendered("test", corpus_dir)}


def wav_bytes(audio: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, audio, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def spectrogram_figure(stems: dict) -> plt.Figure:
    panels = [("mixture", stems["mixture"]), ("vocals", stems["vocals"]), ("accompaniment", stems["accompaniment"])]
    figure, axes = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    extent = [0, len(stems["mixture"]) / SAMPLE_RATE, 0, SAMPLE_RATE / 2000]
    for ax, (label, audio) in zip(axes, panels):
        decibels = 20 * np.log10(np.abs(stft(audio)).T + 1e-6)
        ax.imshow(decibels, origin="lower", aspect="auto", extent=extent, vmin=decibels.max() - 80, cmap="magma")
        ax.set(title=f"{label} (dB)", ylabel="kHz")
    axes[3].imshow(stems["mask"].T, origin="lower", aspect="auto", extent=extent, vmin=0, vmax=1, cmap="viridis")
    axes[3].set(title="soft mask of the voice (0-1)", ylabel="kHz", xlabel="seconds")
    figure.tight_layout()
    return figure


try:
    source = st.radio("Song", ["Corpus example", "Upload"], horizontal=True, key="source")
    if source == "Upload":
        uploaded = st.file_uploader(
            f"An audio file (up to {MAX_SECONDS // 60} minutes, {MAX_MEGABYTES} MB)", type=AUDIO_TYPES, key="upload"
        )
        if uploaded is None:
            st.info("Upload a song, or pick an example of the rendered test split.")
            st.stop()
        name = uploaded.name.rsplit(".", 1)[0]
        audio, rate = decode_audio(uploaded.getvalue(), max_bytes=MAX_MEGABYTES * 2**20)
        if audio.shape[1] > MAX_SECONDS * rate:
            raise ToolkitError(
                f"The song is {audio.shape[1] / rate / 60:.1f} minutes; the limit here is "
                f"{MAX_SECONDS // 60} minutes (the command line takes longer songs)."
            )
    else:
        examples = corpus_examples(card["config"].get("corpus_dir"))
        name = st.selectbox("Test piece (never heard in training)", list(examples), key="example")
        audio, rate = examples[name], SAMPLE_RATE
    with st.spinner("Separating..."):
        stems = separate(audio, sr=rate, model=model, return_mask=True)
except ToolkitError as err:
    ui.show_error(err)
    st.stop()

frames_per_second = SAMPLE_RATE / HOP
for label in ("mixture", "vocals", "accompaniment"):
    st.markdown(f"**{label}**")
    st.audio(stems[label], sample_rate=SAMPLE_RATE)
columns = st.columns(2)
for column, label in zip(columns, ("vocals", "accompaniment")):
    column.download_button(
        f"Download {label} (WAV)",
        wav_bytes(stems[label]),
        file_name=f"{name}_{label}.wav",
        mime="audio/wav",
        key=f"download_{label}",
    )
st.pyplot(spectrogram_figure(stems))
st.caption(f"STFT: 1024-point Hann window, hop {HOP} ({frames_per_second:.2f} frames per second), 16 kHz mono.")
