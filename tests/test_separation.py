"""Separation: STFT, SoftMask, discriminative loss, loaders, rendering, training, BSS-eval, CLI and page."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import mir_eval
import numpy as np
import pytest
import soundfile as sf

from tests.harness import app_page, assert_round_trip, train_once
from toolkit.errors import DataNotFoundError, InputError
from toolkit.separation import data, separate
from toolkit.separation.evaluation import bss_eval_voice, score_clips
from toolkit.separation.model import DiscriminativeLoss, SoftMask, build_drnn, discriminative_loss
from toolkit.separation.predict import decode_audio
from toolkit.separation.stft import SAMPLE_RATE, istft, stft
from toolkit.tasks.separation import TASK

SR = SAMPLE_RATE
TINY = ["hidden=16", "batch_size=4", "window_frames=16", "steps_per_epoch=2", "eval_clips=2", "eval_seconds=2"]


def voice_and_accompaniment(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A gliding harmonic 'voice' and a sustained chord with noise: two sources a mask can tell apart."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = rng.uniform(200, 400) * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    chord = sum(np.sign(np.sin(2 * np.pi * f * t)) for f in rng.uniform(80, 160, 3))
    accompaniment = 0.3 * chord + 0.05 * rng.standard_normal(len(t))
    return (0.2 * voice).astype(np.float32), (0.2 * accompaniment).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A tiny corpus in the rendered layout: 3 train, 1 valid, 2 test pieces of 3 s."""
    root = tmp_path_factory.mktemp("corpus")
    for split, count in (("train", 3), ("valid", 1), ("test", 2)):
        for i in range(count):
            vocals, accompaniment = voice_and_accompaniment(3, hash((split, i)) % 1000)
            (root / split / f"piece{i}").mkdir(parents=True)
            sf.write(root / split / f"piece{i}" / "vocals.wav", vocals, SR)
            sf.write(root / split / f"piece{i}" / "accompaniment.wav", accompaniment, SR)
    return root


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """One epoch of the real training command on the tiny corpus (model, card, evaluation)."""
    return train_once(["task=separation", f"corpus_dir={corpus}", *TINY], tmp_path_factory.mktemp("train"))


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
def test_variants_build_and_round_trip(name, tmp_path):
    model = TASK.build(TASK.Config(model=name, hidden=8, context=1))  # type: ignore[call-arg]
    x = np.random.default_rng(0).uniform(0, 2, (2, 10, 513)).astype(np.float32)
    assert model(x).shape == (2, 10, 513, 2)
    assert_round_trip(model, x, tmp_path)


def test_drnn_puts_recurrence_where_asked():
    model = build_drnn(8, recurrent_layers=(3,), context=0)
    assert [layer.name for layer in model.layers if "layer" in layer.name] == ["layer1", "layer2", "layer3_recurrent"]


def test_training_step_evaluation_and_card(trained):
    methods = [row["method"] for row in trained.evaluation.table]
    assert methods == ["drnn", "REPET-SIM", "ideal ratio mask (oracle)", "mixture"]
    oracle, mixture = trained.evaluation.table[2], trained.evaluation.table[3]
    assert oracle["GNSDR (dB)"] > 5 and abs(mixture["GNSDR (dB)"]) < 1e-6
    assert np.isfinite(trained.evaluation.metrics["gnsdr"])
    assert trained.card["data"]["train_clips"] == 3 and trained.card["metrics"]["test_clips"] == 2
    assert (trained.run_dir.parent / "out" / "separation.keras").exists()


def test_missing_corpus_says_how_to_render(tmp_path):
    with pytest.raises(DataNotFoundError, match="python -m toolkit.separation.render"):
        train_once(["task=separation", f"corpus_dir={tmp_path / 'none'}", *TINY], tmp_path)


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
    mixture = sum(voice_and_accompaniment(4, 7))
    whole = separate(mixture, sr=SR, model=trained.model, chunk_seconds=60)
    chunked = separate(mixture, sr=SR, model=trained.model, chunk_seconds=0.5, margin_seconds=2)
    assert whole["sr"] == SR and whole["vocals"].shape == mixture.shape
    np.testing.assert_allclose(chunked["vocals"], whole["vocals"], atol=1e-4)
    np.testing.assert_allclose(whole["vocals"] + whole["accompaniment"], mixture, atol=1e-5)


def test_separate_resamples_and_downmixes(trained):
    stereo = np.stack([sum(voice_and_accompaniment(1, 3))] * 2, axis=1)  # (samples, 2) at 16 kHz
    at_8k = stereo[::2]
    result = separate(at_8k, sr=SR // 2, model=trained.model)
    assert result["vocals"].shape == (SR,) and result["accompaniment"].dtype == np.float32


@pytest.mark.parametrize(
    "audio, sr, message",
    [
        (np.zeros(SR, np.float32), SR, "silent"),
        (np.ones(100, np.float32), SR, "too short"),
        (np.full(SR, np.nan, np.float32), SR, "NaN"),
        (np.ones(SR, np.float32), None, "sample rate"),
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


def test_mir1k_loader_uses_the_paper_split(tmp_path):
    rng = np.random.default_rng(0)
    for name in ["abjones_1_01", "amy_2_03", "bobon_1_01", "yifen_4_10"]:
        path = tmp_path / "MIR-1K" / "Wavfile" / f"{name}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        left, right = rng.standard_normal((2, SR // 4)) * 0.1
        sf.write(path, np.stack([left, right + 1], axis=1) * 0.5, SR)  # voice (right) carries a DC offset
    train = data.load_mir1k("train", tmp_path) + data.load_mir1k("valid", tmp_path)
    test = data.load_mir1k("test", tmp_path)
    assert sorted(c.name for c in train) == ["abjones_1_01", "amy_2_03"]
    assert [c.name for c in test] == ["bobon_1_01", "yifen_4_10"]
    assert test[0].vocals.mean() > 0.4 and abs(test[0].accompaniment.mean()) < 0.1
    shifted = data.circular_shift_mixes(test[:1], 2)
    assert len(shifted) == 3 and np.allclose(shifted[2].accompaniment, test[0].accompaniment)
    assert not np.allclose(shifted[1].vocals, test[0].vocals)


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


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="FluidSynth is not installed")
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


def test_cli_writes_two_stems(trained, tmp_path, capsys):
    from toolkit.separate import main

    song = tmp_path / "song.wav"
    sf.write(song, np.stack([sum(voice_and_accompaniment(2, 5))] * 2, axis=1), 44100)  # stereo, 44.1 kHz: 0.73 s
    model = trained.run_dir / "model.keras"
    written = main([str(song), "--out", str(tmp_path / "stems"), "--model", str(model)])
    assert [p.name for p in written] == ["vocals.wav", "accompaniment.wav"]
    vocals, rate = sf.read(written[0])
    assert rate == SR and len(vocals) == round(2 * SR * SR / 44100)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "missing.wav"), "--model", str(model)])
    assert "Cannot read audio" in capsys.readouterr().err


def test_page_plays_stems_of_a_corpus_example(trained, monkeypatch):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(trained.run_dir.parent / "out"))
    page = app_page("separation").run()
    assert not page.exception, page.exception
    assert not page.error, [e.value for e in page.error]
    assert page.selectbox(key="example").options == ["piece0", "piece1"]
    assert len(page.get("audio")) == 3
    page.radio(key="source").set_value("Upload").run()
    assert not page.exception and page.info
