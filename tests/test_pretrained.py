"""toolkit.pretrained: the manifest matches trained/, downloads into the cache (checked, atomic), clear offline
errors, paths and hf:// URLs, the Hugging Face export, and the whole path for a user who installed the wheel."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import yaml

from toolkit import pretrained
from toolkit.data.paths import REPO_ROOT
from toolkit.pretrained import publish
from toolkit.pretrained.__main__ import main as cli

CARD = {
    "task": "digits",
    "artifact": "tiny",
    "variant": "mlp",
    "summary": "MNIST handwritten digits",
    "contract": "input: raw pixels 0-255, (N, 4); output: class probabilities (N, 3)",
    "parameters": 15,
    "data": {"name": "MNIST", "train": 10},
    "metric": "test_accuracy",
    "metric_label": "test accuracy",
    "metrics": {"test_accuracy": 0.5, "test_error_pct": 50.0, "test_examples": 10},
    "toolkit_version": "0.1.0",
    "keras_version": keras.__version__,
    "backend": keras.backend.backend(),
    "command": "python -m toolkit.train task=digits model=mlp",
}
X = np.arange(8, dtype="float32").reshape(2, 4)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def published(tmp_path, monkeypatch):
    """A tiny model published the way the real ones are: its own manifest, a release folder, an empty cache;
    no checkout trained/ and no $TOOLKIT_TRAINED, so `load` must use the cache or download."""
    source = tmp_path / "trained"
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")], name="tiny")
    source.mkdir()
    model.save(source / "tiny.keras")
    (source / "tiny.json").write_text(json.dumps(CARD))
    publish.write_manifest(source, tmp_path / "models.json")
    release = tmp_path / "release"
    shutil.copytree(source, release)
    monkeypatch.setattr(pretrained, "MANIFEST_FILE", tmp_path / "models.json")
    monkeypatch.setattr(pretrained, "CHECKOUT_TRAINED", tmp_path / "no-checkout")
    monkeypatch.delenv("TOOLKIT_TRAINED", raising=False)
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TOOLKIT_MODEL_URL", release.as_uri() + "/")
    return model, release, tmp_path / "cache" / "models" / "tiny.keras"


# -- the package's manifest ------------------------------------------------------------------------------------


@pytest.mark.skipif(not (REPO_ROOT / "trained").is_dir(), reason="needs a checkout with trained/")
def test_manifest_matches_trained():
    """Shipping a model (or changing one) without regenerating toolkit/models.json fails here."""
    differences = publish.manifest_differences()
    assert not differences, (
        "toolkit/models.json is out of date, run `python -m toolkit.pretrained manifest`:\n" + "\n".join(differences)
    )
    data = pretrained.manifest()
    assert "digits" in data["models"] and "backbones/efficientnet_lite0_imagenet.weights.h5" in data["files"]
    assert data["models"]["digits"]["card"] == json.loads((REPO_ROOT / "trained" / "digits.json").read_text())


def test_manifest_differences_name_what_changed(tmp_path):
    (tmp_path / "a.keras").write_bytes(b"zip")
    (tmp_path / "a.json").write_text("{}")
    shipped = publish.build_manifest(tmp_path)
    (tmp_path / "b.keras").write_bytes(b"zip")
    (tmp_path / "b.json").write_text("{}")
    (tmp_path / "a.keras").write_bytes(b"other")
    assert publish.manifest_differences(tmp_path, shipped) == ["model b: not in the manifest", "model a: changed"]


def test_default_url_names_the_release_of_this_version(monkeypatch):
    monkeypatch.delenv("TOOLKIT_MODEL_URL", raising=False)
    version = pretrained.manifest()["toolkit_version"]
    assert pretrained.model_url() == f"https://github.com/keras-toolkit/toolkit/releases/download/v{version}/"
    monkeypatch.setenv("TOOLKIT_MODEL_URL", "http://mirror.example/toolkit/{version}")
    assert pretrained.model_url() == f"http://mirror.example/toolkit/{version}/"


# -- resolution, cache and download ----------------------------------------------------------------------------


def test_download_fills_the_cache_then_works_offline(published, monkeypatch, capsys):
    model, _, cached = published
    assert pretrained.list() == ["tiny"] and pretrained.list(local=True) == []
    assert pretrained.card("tiny") == CARD  # from the manifest: no download for a card
    assert not cached.exists()
    loaded = pretrained.load("tiny")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    assert cached.is_file() and pretrained.list(local=True) == ["tiny"]
    assert [p.name for p in cached.parent.iterdir()] == ["tiny.keras"]  # no temporary file left
    assert "100%" in capsys.readouterr().err  # the progress bar
    monkeypatch.setenv("TOOLKIT_MODEL_URL", f"http://127.0.0.1:{free_port()}/")  # offline now
    assert pretrained.path("tiny") == cached
    assert cli(["list"]) == 0 and str(cached) in capsys.readouterr().out


def test_a_tampered_download_is_refused_and_not_cached(published):
    _, release, cached = published
    data = bytearray((release / "tiny.keras").read_bytes())
    data[-100] ^= 1
    (release / "tiny.keras").write_bytes(bytes(data))
    with pytest.raises(pretrained.DownloadError, match="Refused .*tiny.keras.*SHA-256.*Nothing was saved"):
        pretrained.load("tiny")
    assert [p for p in cached.parent.parent.rglob("*") if p.is_file()] == []
    (release / "tiny.keras").write_bytes(bytes(data) + b"more")
    with pytest.raises(pretrained.DownloadError, match="Refused"):
        pretrained.load("tiny")
    assert [p for p in cached.parent.parent.rglob("*") if p.is_file()] == []


def test_server_down_names_the_url_and_how_to_place_the_file(published, monkeypatch):
    _, release, cached = published
    url = f"http://127.0.0.1:{free_port()}/models/"
    monkeypatch.setenv("TOOLKIT_MODEL_URL", url)
    with pytest.raises(pretrained.DownloadError) as error:
        pretrained.load("tiny")
    message = str(error.value)
    assert f"{url}tiny.keras" in message and f"save it as {cached}" in message and "TOOLKIT_MODEL_URL" in message
    assert not cached.exists()
    cached.parent.mkdir(parents=True)
    shutil.copy(release / "tiny.keras", cached)  # placed by hand
    assert pretrained.path("tiny") == cached


def test_a_damaged_cache_entry_is_downloaded_again(published):
    _, release, cached = published
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"truncated")
    assert pretrained.path("tiny") == cached and cached.read_bytes() == (release / "tiny.keras").read_bytes()


def test_checkout_trained_comes_before_the_cache(published, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "CHECKOUT_TRAINED", tmp_path / "trained")
    monkeypatch.setenv("TOOLKIT_MODEL_URL", f"http://127.0.0.1:{free_port()}/")
    assert pretrained.path("tiny") == tmp_path / "trained" / "tiny.keras"
    with pytest.raises(pretrained.InputError, match="No shipped model 'nope'"):
        pretrained.load("nope")


def test_toolkit_trained_is_the_only_place_when_set(published, tmp_path, monkeypatch):
    monkeypatch.setenv("TOOLKIT_TRAINED", str(tmp_path / "private"))
    assert pretrained.list() == [] and pretrained.list(local=True) == []
    with pytest.raises(pretrained.InputError, match=f"No shipped model 'tiny' in {tmp_path / 'private'}"):
        pretrained.load("tiny")


def test_paths_and_keras_urls_load_directly(published, monkeypatch):
    model, release, _ = published
    expected = model.predict(X, verbose=0)
    np.testing.assert_allclose(pretrained.load(release / "tiny.keras").predict(X, verbose=0), expected, rtol=1e-6)
    assert pretrained.card(str(release / "tiny.keras")) == CARD
    asked = []
    monkeypatch.setattr(keras.saving, "load_model", lambda ref: asked.append(ref) or model)
    assert pretrained.load("hf://owner/repo") is model and asked == ["hf://owner/repo"]


def test_export_writes_a_hub_folder_that_keras_loads(published, tmp_path, capsys):
    model, *_ = published
    out = tmp_path / "hub"
    assert cli(["export", "tiny", str(out), "--repo", "me/tiny"]) == 0
    assert {p.name for p in out.iterdir()} == {
        "tiny.keras",
        "tiny.json",
        "config.json",
        "metadata.json",
        "model.weights.h5",
        "README.md",
    }
    assert json.loads((out / "tiny.json").read_text()) == CARD
    readme = (out / "README.md").read_text()
    front = yaml.safe_load(readme.split("---")[1])
    assert front["library_name"] == "keras" and front["license"] == "apache-2.0"
    assert front["datasets"] == ["ylecun/mnist"] and front["metrics"] == ["test_accuracy", "test_error_pct"]
    assert {"keras", "image-classification", "digits"} <= set(front["tags"])
    assert 'keras.saving.load_model("hf://me/tiny")' in readme and "| test_accuracy | 0.5 |" in readme
    for reference in (out, out / "tiny.keras"):  # the folder as hf:// downloads it, and the single file
        loaded = pretrained.load(reference)
        np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


# -- a user who installed the wheel ----------------------------------------------------------------------------

INSTALLED = """
import json, os, sys
from pathlib import Path
import numpy as np
import toolkit
from toolkit import pretrained

cache = Path(os.environ["TOOLKIT_CACHE"])
report = {"file": toolkit.__file__, "local_dir": str(pretrained._local_dir()), "list": pretrained.list(),
          "local": pretrained.list(local=True), "card": pretrained.card("digits_mlp")["metrics"]}
for case in ("bad", "down"):
    os.environ["TOOLKIT_MODEL_URL"] = os.environ["URL_" + case.upper()]
    try:
        pretrained.load("digits_mlp")
        report[case] = "loaded"
    except pretrained.DownloadError as err:
        report[case] = str(err)
    report[case + "_cache"] = sorted(str(p) for p in cache.rglob("*") if p.is_file())
os.environ["TOOLKIT_MODEL_URL"] = os.environ["URL_GOOD"]
model = pretrained.load("digits_mlp")
report["shape"] = list(model.predict(np.zeros((1, 28, 28, 1), "uint8"), verbose=0).shape)
report["cache"] = sorted(str(p.relative_to(cache)) for p in cache.rglob("*") if p.is_file())
print("REPORT" + json.dumps(report))
"""


def build_wheel(tmp_path: Path) -> Path:
    """The wheel of this working tree, built from a copy (the shared tree gets no build/ or egg-info)."""
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT / "toolkit", source / "toolkit", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, source)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run([*command, "-w", str(tmp_path / "dist"), str(source)], check=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("toolkit-*.whl")
    return wheel


def make_venv(tmp_path: Path, wheel: Path) -> Path:
    """A fresh venv with the wheel installed (no dependencies): it sees this interpreter's packages (keras,
    tensorflow) through a .pth file, as --system-site-packages would where they are installed system-wide."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], capture_output=True, text=True
    ).stdout.strip()
    import site

    Path(site_packages, "outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = [python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q", str(wheel)]
    subprocess.run(install, check=True, timeout=300)
    return python


@pytest.mark.skipif(sys.platform == "win32" or not (REPO_ROOT / "trained").is_dir(), reason="needs a checkout")
@pytest.mark.timeout(600)
def test_installed_wheel_downloads_checks_and_caches(tmp_path):
    name = "digits_mlp.keras"
    www = tmp_path / "www"
    publish.release(www / "good", ["digits_mlp"])
    (www / "bad").mkdir()
    (www / "bad" / name).write_bytes((www / "good" / name).read_bytes()[:-10] + b"0123456789")
    python = make_venv(tmp_path, build_wheel(tmp_path))

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(www)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TOOLKIT_", "PYTHON"))}
        env.update(
            TOOLKIT_CACHE=str(tmp_path / "cache"),
            URL_GOOD=f"http://127.0.0.1:{port}/good/",
            URL_BAD=f"http://127.0.0.1:{port}/bad/",
            URL_DOWN=f"http://127.0.0.1:{free_port()}/good/",
        )
        done = subprocess.run(
            [python, "-c", INSTALLED], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("REPORT", 1)[1])

    assert report["file"].startswith(str(tmp_path / "venv")) and report["local_dir"] == "None"
    assert "digits_mlp" in report["list"] and report["local"] == []
    assert report["card"]["test_accuracy"] > 0.98
    assert report["bad"].startswith(f"Refused {env['URL_BAD']}{name}") and report["bad_cache"] == []
    assert f"Cannot download {name} from {env['URL_DOWN']}{name}" in report["down"]
    assert f"save it as {tmp_path / 'cache' / 'models' / name}" in report["down"] and report["down_cache"] == []
    assert report["shape"] == [1, 10] and report["cache"] == [f"models/{name}"]
    assert "100%" in done.stderr  # the progress bar
