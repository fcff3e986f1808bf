"""Separation: STFT, SoftMask, discriminative loss, loaders, rendering, training, BSS-eval, CLI, example song, page."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import librosa
import mir_eval
import numpy as np
import pytest
import soundfile as sf

from tests.harness import ROOT, app_page, assert_round_trip, train_once
from tests.tiny_data import voice_and_accompaniment
from toolkit import saving, tasks
from toolkit.cli import task_and_config
from toolkit.errors import DataNotFoundError, InputError, ToolkitError
from toolkit.precision import dtype_policy
from toolkit.separation import data, separate, singer
from toolkit.separation.__main__ import main as separate_cli
from toolkit.separation.evaluation import bss_eval_voice, score_clips
from toolkit.separation.example_song import EXAMPLE_SONG, render_stems
from toolkit.separation.model import DiscriminativeLoss, SoftMask, build_drnn, discriminative_loss
from toolkit.separation.notes import Note
from toolkit.separation.predict import decode_audio, read_song
from toolkit.separation.stft import SAMPLE_RATE, istft, regrid_mask, stft, stft_size

SR = SAMPLE_RATE
TINY = ["hidden=16", "batch_size=4", "window_frames=16", "steps_per_epoch=2", "eval_clips=2", "eval_seconds=2"]


def stereo_song(seconds: float, sr: int, seed: int = 5) -> np.ndarray:
    """(samples, 2) float32 at `sr` Hz: the voice in the middle, the accompaniment louder on the right."""
    voice, accompaniment = voice_and_accompaniment(seconds, seed, sr)
    return np.stack([voice + 0.5 * accompaniment, voice + accompaniment], axis=1)


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """One epoch of the real training command on the tiny corpus (model, card, evaluation)."""
    words = ["task=separation", "dataset=rendered", f"corpus_dir={corpus}", *TINY]
    return train_once(words, tmp_path_factory.mktemp("train"))


def test_stft_round_trip():
    audio = np.random.default_rng(0).standard_normal(SR).astype(np.float32)
    spectrogram = stft(audio)
    assert spectrogram.shape == (1 + SR // 512, 513)
    np.testing.assert_allclose(istft(spectrogram, len(audio)), audio, atol=1e-4)


def test_soft_mask_sums_to_mixture():
    rng = np.random.default_rng(0)
    y1, y2 = rng.standard_normal((2, 2, 5, 7)).astype(np.float32)  # negative values: the layer takes |y|
    mixture = rng.uniform(0, 3, (2, 5, 7)).astype(np.float32)
    sources = keras.ops.convert_to_numpy(SoftMask()([y1, y2, mixture]))
    assert sources.shape == (2, 5, 7, 2)
    np.testing.assert_allclose(sources.sum(-1), mixture, rtol=1e-5)
    np.testing.assert_allclose(sources[..., 0], np.abs(y1) / (np.abs(y1) + np.abs(y2) + 1e-8) * mixture, rtol=1e-4)


def test_discriminative_loss_matches_hand_computation():
    y_true = np.array([[[[1.0, 0.0], [2.0, 1.0]]]], np.float32)  # (1 example, 1 frame, 2 bins, 2 sources)
    y_pred = np.array([[[[0.5, 0.5], [2.0, 0.0]]]], np.float32)
    # bin 1: own (0.5-1)^2 + (0.5-0)^2 = 0.5, cross (0.5-0)^2 + (0.5-1)^2 = 0.5
    # bin 2: own 0 + (0-1)^2 = 1, cross (2-1)^2 + (0-2)^2 = 5; mean over 2 bins of own - 0.1 cross
    expected = ((0.5 - 0.1 * 0.5) + (1 - 0.1 * 5)) / 2
    assert float(discriminative_loss(y_true, y_pred, gamma=0.1)[0]) == pytest.approx(expected)
    assert float(DiscriminativeLoss(gamma=0.1)(y_true, y_pred)) == pytest.approx(expected)
    assert DiscriminativeLoss.from_config(DiscriminativeLoss(0.1).get_config()).gamma == 0.1


@pytest.mark.parametrize("name", ["drnn", "srnn", "bigru"])
def test_every_variant_masks_the_mixture_and_round_trips(name, tmp_path):
    """The output contract (frames, 513, 2) of each variant; the contract test reloads the default one alone."""
    task = tasks.get("separation")
    model = task.build(task.Config(model=name, hidden=8, context=1))  # type: ignore[call-arg]
    x = np.random.default_rng(0).uniform(0, 2, (2, 10, 513)).astype(np.float32)
    assert model(x).shape == (2, 10, 513, 2)
    assert_round_trip(model, x, tmp_path)


def test_mask_is_float32_under_mixed_precision():
    """The output layer computes in float32: estimates that add up to the mixture to float32 precision."""
    with dtype_policy("mixed_bfloat16"):
        model = build_drnn(8, (2,), context=1)
    x = np.random.default_rng(0).uniform(0, 2, (1, 10, 513)).astype(np.float32)
    y = model.predict_on_batch(x)
    assert model.get_layer("soft_mask").dtype_policy.name == "float32" and y.dtype == np.float32
    np.testing.assert_allclose(y.sum(-1), x, rtol=1e-6)


# RMS of the shipped model's vocals of the example song per 2-second block (left, right), measured when it shipped
# (the MIR-1K model): a change to loading or separating must give the same stems
SHIPPED_VOCALS_RMS = [
    (0.126434, 0.124136),
    (0.070861, 0.06559),
    (0.140892, 0.133367),
    (0.112919, 0.113789),
    (0.088936, 0.073856),
    (0.075777, 0.065428),
    (0.097349, 0.098241),
    (0.132638, 0.129768),
    (0.124091, 0.128174),
    (0.085852, 0.08141),
]


def test_shipped_model_gives_the_same_stems_of_the_example_song():
    model = keras.saving.load_model(ROOT / "trained" / "separation.keras")
    vocals = separate(EXAMPLE_SONG, model=model)["vocals"]
    blocks = vocals[: 20 * 44100].reshape(10, 2 * 44100, 2)
    assert vocals.dtype == np.float32 and model.predict_on_batch(np.ones((1, 4, 513), np.float32)).dtype == np.float32
    np.testing.assert_allclose(np.sqrt(np.mean(blocks**2, axis=1)), SHIPPED_VOCALS_RMS, rtol=2e-3)


def test_drnn_puts_recurrence_where_asked():
    model = build_drnn(8, recurrent_layers=(3,), context=0)
    assert [layer.name for layer in model.layers if "layer" in layer.name] == ["layer1", "layer2", "layer3_recurrent"]


def test_training_step_evaluation_and_card(trained):
    rows = [(row["method"], row["voices"], row["clips"]) for row in trained.evaluation.table]
    methods = ["drnn", "REPET-SIM", "ideal ratio mask (oracle)", "mixture"]
    assert rows == [(m, "seen voices", 2) for m in methods] + [(m, "unseen voices", 1) for m in methods]
    oracle, mixture = trained.evaluation.table[2], trained.evaluation.table[3]
    assert oracle["GNSDR (dB)"] > 5 and abs(mixture["GNSDR (dB)"]) < 1e-6
    assert np.isfinite(trained.evaluation.metrics["gnsdr"]) and np.isfinite(trained.evaluation.metrics["gnsdr_unseen"])
    assert trained.card["data"]["train_clips"] == 3 and trained.card["metrics"]["test_clips"] == 2
    corpus = trained.card["data"]["corpus"]
    assert (corpus["train_pieces_by_festival_voice"], corpus["train_pieces_by_gm_patch"]) == (2, 1)
    singers = [row["singer"] for row in trained.evaluation.details["per_clip"]["test_unseen"]["drnn"]]
    assert singers == ["voice_ked_diphone"]
    assert trained.card["config"]["dataset"] == "rendered" and trained.card["data"]["name"] == "rendered"


def test_cards_from_before_the_rename_still_say_their_data_set():
    """The setting was `data=` until it became `dataset=` as in every other task; cards keep what they recorded."""
    assert data.card_dataset({"config": {"data": "mir1k"}}) == "mir1k"
    assert data.card_dataset({"config": {"dataset": "musdb"}}) == "musdb"
    assert data.card_dataset(json.loads((ROOT / "trained" / "separation.json").read_text())) == "mir1k"


needs_renderers = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or shutil.which("text2wave") is None,
    reason="rendering needs FluidSynth and Festival (the README's apt-get line installs both)",
)


@needs_renderers
def test_first_training_run_renders_its_corpus(tmp_path, capsys):
    """A fresh checkout without MIR-1K: `train task=separation` renders the corpus (every split, held-out voices)
    and trains on it."""
    corpus, empty = tmp_path / "corpus", tmp_path / "data"
    empty.mkdir()
    words = ["task=separation", f"data_dir={empty}", f"corpus_dir={corpus}", "corpus_hours=0", "corpus_seconds=2"]
    words += TINY
    result = train_once(words, tmp_path / "first")
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert "rendering" in capsys.readouterr().out and not (corpus / data.RENDERING_MARKER).exists()
    assert {p["split"] for p in manifest["pieces"]} == set(data.SPLITS) and manifest["version"] == data.CORPUS_VERSION
    unseen = {p["singer"] for p in manifest["pieces"] if p["split"] == "test_unseen"}
    heard = {p["singer"] for p in manifest["pieces"] if p["split"] != "test_unseen"}
    assert unseen <= set(singer.UNSEEN_VOICES) and not heard & set(singer.UNSEEN_VOICES)
    assert {row["voices"] for row in result.evaluation.table} == {"seen voices", "unseen voices"}
    assert np.isfinite(result.evaluation.metrics["gnsdr_unseen"]) and result.card["data"]["corpus"]["version"] == 2
    stamp = (corpus / "manifest.json").stat().st_mtime_ns
    train_once(words, tmp_path / "second")  # cached: the second run renders nothing
    assert (corpus / "manifest.json").stat().st_mtime_ns == stamp and "rendering" not in capsys.readouterr().out


def test_missing_split_says_how_to_render(tmp_path):
    with pytest.raises(DataNotFoundError, match="python -m toolkit.separation.render"):
        data.load_rendered("test", tmp_path / "none")


def test_older_corpus_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"seed": 0, "pieces": []}))
    with pytest.raises(DataNotFoundError, match="older toolkit"):
        data.needs_rendering(tmp_path)


def notes(*spans: tuple[float, float, int]) -> list[Note]:
    return [Note(start, end, pitch, 90) for start, end, pitch in spans]


def test_singing_markup_rests_in_gaps_and_pitches_in_hertz():
    xml = singer.singing_xml(notes((0.5, 1.0, 69), (1.0, 1.25, 57)), ["la", "mi"])
    body = xml.splitlines()[3:]
    assert body == [
        '<REST SECONDS="0.500"></REST>',
        '<PITCH FREQ="440.00"><DURATION SECONDS="0.500">la</DURATION></PITCH>',
        '<PITCH FREQ="220.00"><DURATION SECONDS="0.250">mi</DURATION></PITCH>',
        "</SINGING>",
    ]


def test_a_singer_sings_one_note_at_a_time():
    line = singer.monophonic(notes((0, 1, 60), (0, 1, 64), (0.5, 2, 62)))
    assert [(n.start, n.end, n.pitch) for n in line] == [(0, 0.5, 64), (0.5, 2, 62)]


def test_vibrato_bends_pitch_but_keeps_every_note_in_place():
    sr, rng = 8000, np.random.default_rng(0)
    line = notes((0, 1.5, 60), (1.5, 3, 62))
    tone = np.sin(2 * np.pi * 200 * np.arange(3 * sr) / sr).astype(np.float32)
    cents = singer.pitch_curve(line, len(tone), sr, rng)
    bent = singer.bend_pitch(tone, line, cents, sr)
    crossings = np.flatnonzero(np.diff(np.signbit(bent).astype(int)) != 0)
    hertz = sr / 2 / np.diff(crossings)
    assert bent.shape == tone.shape and 1.005 < hertz.max() / hertz.min() < 1.2  # a few tens of cents
    assert (
        np.abs(bent[int(1.5 * sr) - 200 : int(1.5 * sr) + 200] - tone[int(1.5 * sr) - 200 : int(1.5 * sr) + 200]).max()
        < 0.2
    )


def test_held_out_voices_never_sing_in_training():
    from toolkit.separation.render import draw_singer

    rng = np.random.default_rng(0)
    heard = {draw_singer(rng, "train") for _ in range(300)}
    assert heard >= set(singer.SEEN_VOICES) and not heard & set(singer.UNSEEN_VOICES)
    assert any(s.startswith("gm:") for s in heard)
    assert {draw_singer(rng, "test_unseen") for _ in range(50)} == set(singer.UNSEEN_VOICES)


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="Festival is not installed")
def test_festival_sings_the_notes_and_a_failure_is_reported():
    line = notes((0.2, 0.8, 57), (0.8, 1.4, 62))
    audio = singer.sing_line(line, singer.SEEN_VOICES[0], np.random.default_rng(0), SR, 1.6)
    f0, voiced, _ = librosa.pyin(audio, fmin=100, fmax=500, sr=SR, frame_length=1024, hop_length=256)
    frame = lambda t: int(t * SR / 256)  # noqa: E731
    assert np.nanmedian(f0[frame(0.3) : frame(0.7)]) == pytest.approx(220, rel=0.03)
    assert np.nanmedian(f0[frame(0.9) : frame(1.3)]) == pytest.approx(293.7, rel=0.03)
    assert np.abs(audio[: frame(0.15) * 256]).max() < 0.01  # the leading rest is silent
    with pytest.raises(singer.SingingFailed, match="failed 3 times"):
        singer.sing_line(line, "voice_that_does_not_exist", np.random.default_rng(0), SR, 1.6)
    with pytest.raises(ValueError, match="cannot sing above"):
        singer.sing_line(notes((0, 1, 76)), singer.SEEN_VOICES[0], np.random.default_rng(0), SR, 1.0)


def test_bss_eval_on_known_signals():
    rng = np.random.default_rng(0)
    vocals, accompaniment = rng.standard_normal((2, 2 * SR))
    estimate = vocals + 0.1 * accompaniment  # interference 20 dB below the target, no artefacts
    scores = bss_eval_voice(vocals, accompaniment, estimate, accompaniment)
    assert scores["sir"] == pytest.approx(20, abs=0.5) and scores["sdr"] == pytest.approx(20, abs=0.5)
    reference = mir_eval.separation.bss_eval_sources(
        np.stack([vocals, accompaniment]), np.stack([estimate, accompaniment]), compute_permutation=False
    )
    assert [scores["sdr"], scores["sir"], scores["sar"]] == pytest.approx([r[0] for r in reference[:3]])


def test_gnsdr_weights_clips_by_length():
    long, short = (data.Clip(n, *voice_and_accompaniment(s, i)) for i, (n, s) in enumerate([("a", 3), ("b", 1)]))
    perfect = {"oracle": lambda c: (c.vocals, c.accompaniment), "half": lambda c: (c.mixture / 2, c.mixture / 2)}
    results = score_clips([long, short], perfect)
    assert results["half"]["gnsdr"] == pytest.approx(0, abs=1e-6)
    nsdr = [c["nsdr"] for c in results["oracle"]["clips"]]
    assert results["oracle"]["gnsdr"] == pytest.approx((3 * nsdr[0] + 1 * nsdr[1]) / 4)


def test_chunked_separation_equals_whole(trained):
    """In float32, so that the comparison sees the chunking alone: bfloat16 kernels chosen per shape round apart."""
    with dtype_policy("float32"):
        model = build_drnn(16, (2,), context=1)
    model.set_weights(trained.model.get_weights())
    mixture = sum(voice_and_accompaniment(4, 7))
    done = []
    whole = separate(mixture, sr=SR, model=model, chunk_seconds=60)
    chunked = separate(mixture, sr=SR, model=model, chunk_seconds=0.5, margin_seconds=2, progress=done.append)
    assert whole["sr"] == SR and whole["vocals"].shape == mixture.shape
    np.testing.assert_allclose(chunked["vocals"], whole["vocals"], atol=1e-4)
    np.testing.assert_allclose(whole["vocals"] + whole["accompaniment"], mixture, atol=1e-5)
    assert len(done) == 9 and done == sorted(done) and done[-1] == 1.0  # 126 frames in chunks of 15


def test_stems_come_back_as_the_song_came_in(trained):
    """A 44.1 kHz stereo array: (samples, 2) stems at 44.1 kHz adding up to it; (channels, samples) is turned."""
    song = stereo_song(1, 44100)
    result = separate(song, sr=44100, model=trained.model)
    assert result["sr"] == 44100 and result["vocals"].shape == song.shape and result["vocals"].dtype == np.float32
    np.testing.assert_allclose(result["vocals"] + result["accompaniment"], song, atol=1e-5)
    assert not np.allclose(result["vocals"][:, 0], result["vocals"][:, 1])  # each channel is masked, not the downmix
    np.testing.assert_allclose(separate(song.T, sr=44100, model=trained.model)["vocals"], result["vocals"], atol=1e-6)
    low = separate(song[::4][:, :1], sr=11025, model=trained.model)  # (samples, 1) below the model's rate
    assert low["sr"] == 11025 and low["vocals"].shape == (11025, 1)


@pytest.mark.parametrize(
    "audio, sr, message",
    [
        (np.zeros(SR, np.float32), SR, "silent"),
        (np.ones(100, np.float32), SR, "too short"),
        (np.full(SR, np.nan, np.float32), SR, "NaN"),
        (np.ones(SR, np.float32), None, "sample rate"),
        (np.ones(SR, np.float32), 4000, "at least 8000 Hz"),
    ],
)
def test_bad_audio_is_refused(trained, audio, sr, message):
    with pytest.raises(InputError, match=message):
        separate(audio, sr=sr, model=trained.model)


def test_corrupt_upload_is_refused():
    with pytest.raises(InputError, match="not audio"):
        decode_audio(b"this is not a wav file")
    with pytest.raises(InputError, match="limit"):
        decode_audio(b"0" * 2048, max_bytes=1024)


def test_mir1k_is_split_by_singer_from_wav_and_flac_and_mixed_at_0_db(tiny_mir1k):
    train, dev = data.load_mir1k("train", tiny_mir1k), data.load_clips("mir1k", "valid", data_dir=tiny_mir1k)
    test = data.load_mir1k("test", tiny_mir1k)
    assert [c.name for c in train] == ["abjones_1_01", "abjones_1_02", "amy_1_01", "amy_1_02"]  # 1_02: wav + flac
    assert [c.name for c in dev] == ["annar_1_01", "annar_1_02", "tammy_1_01"] and dev[1].singer == "annar"
    assert [c.name for c in test] == ["bobon_1_01", "yifen_1_01"]
    assert data.mir1k_singers("dev", tiny_mir1k) == ["annar", "tammy"]
    assert [c.seconds for c in train] == [3.0, 2.0, 2.5, 2.0]
    folder = tiny_mir1k / "MIR-1K" / "Wavfile"
    for clip in train + dev + test:  # voice right, accompaniment left, both rescaled to 0 dB at the same level
        path = next(p for p in folder.glob(f"{clip.name}.*") if p.suffix in (".wav", ".flac"))
        stereo = sf.read(path, dtype="float32")[0]
        energy = lambda x: np.sum(np.square(x, dtype=np.float64))  # noqa: E731
        assert 10 * np.log10(energy(clip.vocals) / energy(clip.accompaniment)) == pytest.approx(0, abs=1e-4)
        assert energy(clip.mixture) == pytest.approx(energy(stereo[:, 0] + stereo[:, 1]), rel=0.05)
        assert np.corrcoef(clip.vocals, stereo[:, 1])[0, 1] > 0.999
    shifted = data.circular_shift_mixes(test[:1], 2)
    assert len(shifted) == 3 and np.allclose(shifted[2].accompaniment, test[0].accompaniment)
    assert not np.allclose(shifted[1].vocals, test[0].vocals)


def test_an_empty_mir1k_split_names_the_folder_and_the_singers(tmp_path):
    folder = tmp_path / "MIR-1K" / "Wavfile"
    folder.mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="train singers .*Wavfile: expected .* abjones, amy; .* no clips"):
        data.load_mir1k("train", tmp_path)
    sf.write(folder / "amy_1_01.flac", np.zeros((SR, 2)), SR)
    with pytest.raises(DataNotFoundError, match="dev singers in .*Wavfile: .* of annar, tammy; the folder holds amy"):
        data.load_clips("mir1k", "valid", data_dir=tmp_path)
    with pytest.raises(DataNotFoundError, match="other than abjones, amy, annar, tammy"):
        data.load_mir1k("test", tmp_path)
    with pytest.raises(InputError, match="no split 'holdout'"):
        data.load_mir1k("holdout", tmp_path)


def test_0_db_mixing_and_length_weighted_gnsdr_on_a_known_case():
    """White-noise sources mixed at 0 dB: the mixture's SDR is 0 dB, so NSDR is the estimate's SDR, which leaking
    a tenth (a hundredth) of the accompaniment makes 20 dB (40 dB); weighted by length, 3 s and 1 s: 25 dB."""
    rng = np.random.default_rng(0)
    clips = []
    for name, seconds, loudness in (("long", 3, 0.5), ("short", 1, 3.0)):
        vocals, accompaniment = rng.standard_normal((2, seconds * SR)) * np.array([[loudness], [1.0]])
        clips.append(data.Clip(name, *data.mix_at(vocals, accompaniment)))
        assert np.sum(clips[-1].vocals ** 2) == pytest.approx(np.sum(clips[-1].accompaniment ** 2), rel=1e-6)
        assert np.sum(clips[-1].mixture ** 2) == pytest.approx(np.sum((vocals + accompaniment) ** 2), rel=0.01)
    leak = {"long": 0.1, "short": 0.01}
    results = score_clips(clips, {"leaky": lambda c: (c.vocals + leak[c.name] * c.accompaniment, c.accompaniment)})
    assert [c["nsdr"] for c in results["leaky"]["clips"]] == pytest.approx([20, 40], abs=0.3)
    assert results["leaky"]["gnsdr"] == pytest.approx((3 * 20 + 1 * 40) / 4, abs=0.3)
    vocals, accompaniment = data.mix_at(clips[0].vocals, clips[0].accompaniment, snr_db=6)
    assert 10 * np.log10(np.sum(vocals**2) / np.sum(accompaniment**2)) == pytest.approx(6, abs=1e-4)


def test_remixed_windows_are_voice_plus_music_and_depend_on_seed_epoch_and_index(tiny_mir1k):
    clips = data.load_mir1k("train", tiny_mir1k)
    windows = data.RemixedWindows([(clips, 1.0)], batch_size=8, frames=16, steps=4, augmentation=data.Augmentation())
    x, y = windows[2]
    assert x.shape == (8, 16, 513) and y.shape == (8, 16, 513, 2) and x.dtype == y.dtype == np.float32
    (draw,) = windows.draws(2)
    vocals = np.concatenate([stft(c.vocals) for c in clips])
    accompaniment = np.concatenate([stft(c.accompaniment) for c in clips])
    rows = np.arange(16)
    for i in range(8):  # the mixture of the scaled sources, music from where the draw says
        v = draw["vocals_gain"][i] * vocals[draw["vocals_start"][i] + rows]
        a = draw["accompaniment_gain"][i] * accompaniment[draw["accompaniment_start"][i] + rows]
        np.testing.assert_allclose(x[i], np.abs(v + a), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(y[i], np.stack([np.abs(v), np.abs(a)], -1), rtol=1e-5, atol=1e-6)
    ratio = 20 * np.log10(draw["vocals_gain"] / draw["accompaniment_gain"])
    assert np.all(np.abs(ratio) <= 5) and np.any(draw["vocals_start"] != draw["accompaniment_start"])

    # without remixing, a window is the STFT of the time-domain mixture g_v v + g_a a of one clip
    one = data.RemixedWindows([(clips[:1], 1.0)], 4, 16, 1, data.Augmentation(remix=0))
    (draw,) = one.draws(0)
    for i, start in enumerate(draw["vocals_start"]):
        mixture = draw["vocals_gain"][i] * clips[0].vocals + draw["accompaniment_gain"][i] * clips[0].accompaniment
        np.testing.assert_allclose(one[0][0][i], np.abs(stft(mixture)[start : start + 16]), rtol=1e-4, atol=1e-5)

    again = data.RemixedWindows([(clips, 1.0)], 8, 16, 4, data.Augmentation())
    again[3]  # asked in another order: the same batch
    np.testing.assert_array_equal(again[2][0], x)
    again.on_epoch_end()
    assert not np.array_equal(again[2][0], x)
    other_seed = data.RemixedWindows([(clips, 1.0)], 8, 16, 4, data.Augmentation(), seed=1)
    assert not np.array_equal(other_seed[2][0], x)


def test_remixed_windows_take_each_data_set_at_its_share(tiny_mir1k, corpus):
    mir1k, rendered = data.load_mir1k("train", tiny_mir1k), data.load_rendered("train", corpus)
    windows = data.RemixedWindows([(mir1k, 0.7), (rendered, 0.3)], 10, 16, 2, data.Augmentation(0, 0, 0))
    assert windows.counts.tolist() == [7, 3] and len(windows[0][0]) == 10
    assert [len(d["vocals_start"]) for d in windows.draws(0)] == [7, 3]
    alone = data.RemixedWindows([(mir1k, 1.0), (rendered, 0.0)], 10, 16, 2, data.Augmentation())
    assert len(alone.pools) == 1 and alone.counts.tolist() == [10]  # a data set with no share is not even loaded


def test_speed_copies_change_pitch_and_length_together(tiny_mir1k):
    (clip,) = data.load_mir1k("train", tiny_mir1k, limit=1)
    faster, slower = data.speed_changed([clip], (1, -1))
    assert (faster.name, slower.name) == ("abjones_1_01@+1st", "abjones_1_01@-1st")
    assert len(faster.vocals) == pytest.approx(len(clip.vocals) / 2 ** (1 / 12), rel=1e-4)
    assert len(slower.vocals) == pytest.approx(len(clip.vocals) * 2 ** (1 / 12), rel=1e-4)

    def pitch(x: np.ndarray) -> float:
        return float(np.nanmedian(librosa.yin(x, fmin=100, fmax=900, sr=SR)))

    assert pitch(faster.vocals) / pitch(clip.vocals) == pytest.approx(2 ** (1 / 12), rel=0.01)


@pytest.mark.parametrize(
    "words, train_clips, shares",
    [
        (["dataset=mir1k"], 4, None),
        ([], 4, None),  # auto: MIR-1K is here
        (["dataset=mir1k+rendered", "rendered_share=0.25"], 7, {"mir1k": 0.75}),
    ],
)
def test_one_epoch_on_mir1k_validates_and_evaluates_on_the_dev_singers(
    tiny_mir1k, corpus, tmp_path, words, train_clips, shares
):
    result = train_once(["task=separation", f"data_dir={tiny_mir1k}", f"corpus_dir={corpus}", *TINY, *words], tmp_path)
    card = result.card
    assert card["data"]["train_clips"] == train_clips and card["data"]["valid_clips"] == 3
    assert card["data"]["train_singers"] == ["abjones", "amy"] and card["data"]["valid_singers"] == ["annar", "tammy"]
    assert card["data"]["augmentation"] == {"snr_db": 5.0, "gain_db": 6.0, "remix": 0.5, "speed_semitones": 1.0}
    assert (card["config"]["dataset"], card["config"]["augment"]) == ((words or ["=mir1k"])[0].split("=")[1], True)
    assert card["data"]["train_hours_with_copies"] > card["data"]["train_hours"] > 0
    if shares:
        assert card["data"]["batch_share_by_dataset"] == {**shares, "rendered": 0.25}
        assert card["data"]["train_clips_by_dataset"] == {"mir1k": 4, "rendered": 3}
    assert {row["voices"] for row in result.evaluation.table} == {"MIR-1K dev: annar, tammy"}
    assert result.evaluation.details["singers"] == {"dev": ["annar", "tammy"]}
    assert np.isfinite(card["metrics"]["gnsdr"]) and card["metrics"]["test_clips"] == 2


def test_evaluate_names_the_singers_it_scored(tiny_mir1k, tmp_path, capsys):
    """dataset=auto (the default) scores MIR-1K's dev singers where MIR-1K is present, and says so."""
    from toolkit.evaluate import evaluate

    with dtype_policy("float32"):
        model = build_drnn(8, (2,), context=1)
    path = saving.save_model(model, tmp_path / "model.keras")
    words = ["task=separation", f"model_path={path}", f"data_dir={tiny_mir1k}", "eval_seconds=1"]
    dev = evaluate(words)
    out = capsys.readouterr().out
    assert "Scoring MIR-1K's dev singers (annar, tammy): 3 clips" in out and "dataset=auto chose mir1k" in out
    assert [row["method"] for row in dev.table] == ["drnn", "REPET-SIM", "ideal ratio mask (oracle)", "mixture"]
    assert out.count("MIR-1K dev: annar, tammy") == 4 and dev.metrics["test_clips"] == 3
    test = evaluate([*words, "eval_split=test", "dataset=mir1k"])
    assert "test singers (bobon, yifen)" in capsys.readouterr().out and test.details["singers"]["test"] == [
        "bobon",
        "yifen",
    ]
    with pytest.raises(ToolkitError, match="eval_split=train: choose dev or test"):
        evaluate([*words, "eval_split=train"])


@pytest.mark.parametrize(
    "word, message", [("dataset=mir1k+musdb", "dataset=mir1k\\+musdb: choose auto or"), ("rendered_share=2", "0 to 1")]
)
def test_bad_data_settings_are_refused_before_loading(word, message):
    task, config = task_and_config(["task=separation", "data_dir=/nowhere", word])
    with pytest.raises(ToolkitError, match=message):
        task.data(config)


def test_a_run_saved_with_the_old_data_setting_resumes_with_it(tmp_path):
    from toolkit.train import prepare

    (tmp_path / "config.yaml").write_text("task: separation\ndata: mir1k\nhidden: 64\neval_clips: 16\n")
    _, config, _ = prepare(["task=separation", "resume=true", f"run_dir={tmp_path}"])
    assert (config.dataset, config.hidden, config.eval_clips) == ("mir1k", 64, 16) and "data" not in config


def test_musdb_loader_sums_accompaniment_and_resamples(tmp_path):
    song = tmp_path / "musdb18hq" / "test" / "Artist - Song"
    song.mkdir(parents=True)
    (tmp_path / "musdb18hq" / "train").mkdir()
    for i, stem in enumerate(["vocals", "drums", "bass", "other"]):
        sf.write(song / f"{stem}.wav", np.full((44100, 2), 0.1 * (i + 1), np.float32), 44100)
    (clip,) = data.load_musdb("test", tmp_path)
    assert len(clip.vocals) == SR
    assert clip.vocals[SR // 2] == pytest.approx(0.1, abs=1e-3)
    assert clip.accompaniment[SR // 2] == pytest.approx(0.2 + 0.3 + 0.4, abs=1e-3)


def test_missing_mir1k_names_the_folder(tmp_path):
    with pytest.raises(DataNotFoundError, match="MIR-1K"):
        data.load_mir1k("train", tmp_path)


@needs_renderers
def test_render_a_few_seconds_deterministically(tmp_path):
    pytest.importorskip("fluidsynth")
    from toolkit.separation.render import render_corpus

    font = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
    if not font.exists():
        pytest.skip("the timgm6mb-soundfont package is not installed")
    kwargs = dict(pieces=2, max_seconds=3, soundfont=str(font), progress=False)
    manifest = render_corpus(tmp_path / "a", **kwargs)
    render_corpus(tmp_path / "b", **kwargs)
    assert len(manifest["pieces"]) == 2 and json.loads((tmp_path / "a" / "manifest.json").read_text())
    for piece in manifest["pieces"]:
        vocals, rate = sf.read(tmp_path / "a" / piece["folder"] / "vocals.wav")
        again, _ = sf.read(tmp_path / "b" / piece["folder"] / "vocals.wav")
        assert rate == SR and len(vocals) == round(piece["seconds"] * SR) and np.abs(vocals).max() > 0.01
        np.testing.assert_array_equal(vocals, again)


@pytest.mark.parametrize("file_format", ["WAV", "FLAC", "OGG", "MP3"])
def test_cli_writes_stems_as_the_song_came_in(trained, tmp_path, file_format):
    if file_format not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {file_format}")
    song = tmp_path / f"song.{file_format.lower()}"
    sf.write(song, stereo_song(1, 44100), 44100, format=file_format)
    model = trained.run_dir / "model.keras"
    written = separate_cli([str(song), "--out", str(tmp_path / "stems"), "--model", str(model)])
    assert [p.name for p in written] == ["vocals.wav", "accompaniment.wav"]
    (vocals, rate), (accompaniment, _) = (sf.read(path, dtype="float32") for path in written)
    mixture, _ = sf.read(song, dtype="float32")  # as decoded: lossy formats differ from what was written
    assert rate == 44100 and vocals.shape == mixture.shape == (44100, 2)
    np.testing.assert_allclose(vocals + accompaniment, mixture, atol=1e-5)


def test_cli_says_what_it_cannot_read(trained, tmp_path, capsys):
    with pytest.raises(SystemExit):
        separate_cli([str(tmp_path / "missing.wav"), "--model", str(trained.run_dir / "model.keras")])
    assert "Cannot read audio" in capsys.readouterr().err


def test_the_package_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "toolkit.separation", "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: python -m toolkit.separation "), done.stderr
    assert "vocals.wav and accompaniment.wav" in done.stdout


@pytest.fixture
def fresh_page_caches():
    """Streamlit's caches outlive an AppTest: clear them so each page test loads its own model, card and corpus."""
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def test_page_plays_stems_of_a_corpus_example(trained, monkeypatch, fresh_page_caches):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(trained.run_dir.parent / "out"))
    page = app_page("separation")
    page.session_state["source"] = "Rendered test piece"
    page.run()
    assert not page.exception, page.exception
    assert not page.error, [e.value for e in page.error]
    assert page.selectbox(key="example").options == [
        "piece0 · gm:53",
        "piece1 · kal_diphone",
        "piece0 · ked_diphone (a voice never heard in training)",
    ]
    assert len(page.get("audio")) == 3
    page.radio(key="source").set_value("Upload").run()
    assert not page.exception and page.info


def test_regrid_mask_keeps_time_and_frequency_and_leaves_above_8k_out():
    rows, columns = np.meshgrid(np.arange(40), np.arange(513), indexing="ij")
    mask = (rows / 39 * columns / 512).astype(np.float32)  # bilinear in (frame, bin): interpolation is exact
    np.testing.assert_array_equal(regrid_mask(mask, SR, 40), mask)
    n_fft, hop = stft_size(44100)
    assert (n_fft, hop) == (2822, 1411)
    regridded = regrid_mask(mask, 44100, 40)
    seconds, hertz = np.arange(40)[:, None] * hop / 44100, np.arange(n_fft // 2 + 1) * 44100 / n_fft
    below = hertz <= SR / 2
    expected = np.minimum(seconds * SR / 512 / 39, 1) * hertz / (SR / 2)  # past the last model frame: its last frame
    assert regridded.shape == (40, 1412)
    np.testing.assert_allclose(regridded[:, below], expected[:, below], atol=1e-5)
    assert not regridded[:, ~below].any()


def test_stems_at_44k_match_the_stems_at_16k():
    """The same song at 16 kHz and upsampled to 44.1 kHz gives the same vocals: the mask lands on the right cells.

    The network is a stand-in whose voice is the loud cells of the mixture, a sharp mask: laid one frame or one bin
    off, the vocals differ by 12-21 %; on the right cells by 0.3 %.
    """
    magnitude = keras.Input((None, 513))
    loud = magnitude * keras.ops.sigmoid(magnitude - 5.0)
    model = keras.Model(magnitude, keras.ops.stack([loud, magnitude - loud], axis=-1))
    mixture = sum(voice_and_accompaniment(2, 11))
    upsampled = librosa.resample(mixture, orig_sr=SR, target_sr=44100, res_type="soxr_hq")
    at_16k = separate(mixture, sr=SR, model=model)["vocals"]
    at_44k = separate(upsampled, sr=44100, model=model)["vocals"]
    back = librosa.resample(at_44k, orig_sr=44100, target_sr=SR, res_type="soxr_hq")[: len(at_16k)]
    assert np.sqrt(np.mean((back - at_16k) ** 2) / np.mean(at_16k**2)) < 0.02


@pytest.mark.parametrize(
    "name, write, message",
    [
        ("corrupt.ogg", lambda path: path.write_bytes(b"OggS, but not really"), "Cannot read audio"),
        ("silent.flac", lambda path: sf.write(path, np.zeros((44100, 2)), 44100), "silent"),
        ("nan.wav", lambda path: sf.write(path, np.full((44100, 2), np.nan), 44100, subtype="FLOAT"), "NaN"),
    ],
)
def test_bad_files_are_refused(tmp_path, name, write, message):
    write(tmp_path / name)
    with pytest.raises(InputError, match=message):
        separate(tmp_path / name)  # refused before any model is loaded


def test_example_song_ships_and_renders():
    audio, rate = read_song(EXAMPLE_SONG)
    assert rate == 44100 and audio.shape == (20 * 44100, 2) and EXAMPLE_SONG.stat().st_size < 2**20
    stems = render_stems(sr=8000)
    mixture = stems["vocals"] + stems["accompaniment"]
    assert stems["vocals"].shape == (20 * 8000, 2) and np.isfinite(mixture).all()
    assert np.abs(mixture).max() == pytest.approx(10 ** (-1 / 20), rel=1e-4)
    assert np.mean(stems["vocals"] ** 2) == pytest.approx(np.mean(stems["accompaniment"] ** 2), rel=1e-3)


def test_page_opens_on_the_example_song_without_a_corpus(tmp_path, monkeypatch, fresh_page_caches):
    """First open, shipped model, no corpus anywhere: stems of the example song; an upload keeps its rate."""
    monkeypatch.delenv("TOOLKIT_TRAINED", raising=False)
    monkeypatch.setenv("TOOLKIT_DATA", str(tmp_path))
    monkeypatch.setattr(data, "DEFAULT_CORPUS", tmp_path / "rendered")
    page = app_page("separation").run()
    assert not page.exception, page.exception
    assert not page.error, [e.value for e in page.error]
    assert len(page.get("audio")) == 3 and len(page.get("download_button")) == 2 and len(page.get("image")) == 1
    assert "44100 Hz" in page.caption[-1].value

    page.radio(key="source").set_value("Rendered test piece").run()
    assert not page.exception and "python -m toolkit.separation.render" in page.error[0].value

    upload = io.BytesIO()
    sf.write(upload, stereo_song(1, 48000), 48000, format="FLAC")
    page.radio(key="source").set_value("Upload").run()
    page.file_uploader(key="upload").set_value(("song.flac", upload.getvalue(), "audio/flac")).run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert len(page.get("download_button")) == 2 and "48000 Hz" in page.caption[-1].value


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="Festival is not installed")
def test_a_missing_festival_voice_names_its_package(monkeypatch):
    absent = singer.FestivalVoice("voice_not_installed_diphone", "festvox-not-installed", "nobody")
    monkeypatch.setattr(singer, "FESTIVAL_VOICES", (*singer.FESTIVAL_VOICES, absent))
    with pytest.raises(ToolkitError, match="apt-get install festvox-not-installed$"):
        singer.require_festival()
