"""Bad input, property-based: random bytes, shapes and dtypes fed to every function that handles a user's file.

Each function must either return a well-formed result or raise a ToolkitError subclass (the message the
page shows); any other exception is a traceback in the app. Array inputs are traced with tracemalloc so a
small input can never allocate a huge buffer.
"""

import io
import struct
import tracemalloc
import zipfile
import zlib

import keras
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from toolkit.data.image_folder import read_image
from toolkit.data.image_zip import extract_image_zip
from toolkit.denoising.inference import denoise
from toolkit.digits.predict import drawing_to_mnist_digit
from toolkit.errors import InputError, ToolkitError
from toolkit.images import decode_image
from toolkit.inpainting.data import IMAGE_SHAPES, fit_to_dataset
from toolkit.objects.data import DATASETS as OBJECT_DATASETS
from toolkit.objects.predict import photo_to_dataset_image
from toolkit.separation.predict import decode_audio, load_mixture
from toolkit.transfer.predict import square_photo

EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAX_BYTES = 64 * 2**20  # peak Python/numpy allocation allowed for one small input

DTYPES = ["uint8", "int16", "int64", "float32", "float64", "bool"]
arrays = st.sampled_from(DTYPES).flatmap(
    lambda dtype: hnp.arrays(
        dtype,
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=40),
        elements=st.floats(-300, 300, width=32) if dtype.startswith("float") else None,
    )
)
image_arrays = st.one_of(  # plausible pictures: (H, W) or (H, W, C) with C in 1..4, any size from 1 pixel
    hnp.arrays("uint8", hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=48)),
    hnp.arrays(
        "uint8",
        st.tuples(st.integers(1, 48), st.integers(1, 48), st.integers(1, 4)),
    ),
)


@pytest.fixture(scope="module", autouse=True)
def warm_imports():
    """Run the audio path once untraced: its first call imports and sets up the resampler (~70 MB once), which
    `outcome` would otherwise count against whichever small input came first (a flaky failure)."""
    for rate in (8000, 44100):
        load_mixture(np.full((2, rate), 0.1, np.float32), rate)  # one second of quiet sound


def outcome(function, *args):
    """`function(*args)`, or None if it raised a ToolkitError; any other exception fails the test."""
    tracemalloc.start()
    try:
        return function(*args)
    except ToolkitError as err:
        assert str(err), "a ToolkitError needs a message for the page"
        return None
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MAX_BYTES, f"{function.__name__} allocated {peak / 2**20:.0f} MB for a small input"


def encoded(pixels: np.ndarray, file_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=file_format)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with one byte of data: a decompression bomb's shape."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")


# --- images -------------------------------------------------------------------------------------------------


def check_decoded(data: bytes, mode: str) -> None:
    image = outcome(decode_image, data, mode, 100_000)
    if image is not None:
        assert image.dtype == np.uint8 and image.ndim == (3 if mode == "RGB" else 2)
        assert image.size and image.shape[0] * image.shape[1] <= 100_000
        assert image.ndim == 2 or image.shape[-1] == 3


@EXAMPLES
@given(data=st.binary(max_size=2048), mode=st.sampled_from(["RGB", "L"]))
def test_decode_image_takes_any_bytes(data, mode):
    check_decoded(data, mode)


@EXAMPLES
@given(
    pixels=image_arrays,
    file_format=st.sampled_from(["PNG", "GIF", "BMP", "WEBP", "JPEG", "TIFF"]),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=4),
    mode=st.sampled_from(["RGB", "L"]),
)
def test_decode_image_takes_truncated_and_corrupted_files(pixels, file_format, cut, flips, mode):
    if file_format == "JPEG" and pixels.ndim == 3 and pixels.shape[-1] in (2, 4):
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim == 3 and pixels.shape[-1] == 2:
        pixels = pixels[..., 0]
    data = bytearray(encoded(pixels, file_format))
    check_decoded(bytes(data), mode)  # the intact file
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    check_decoded(bytes(data[: max(1, int(cut * len(data)))]), mode)


@pytest.mark.parametrize("width,height", [(100_000, 100_000), (2**31 - 1, 1), (1, 2**31 - 1), (400, 300)])
def test_decode_image_refuses_huge_dimensions_from_the_header(width, height):
    with pytest.raises(InputError, match="megapixels"):
        decode_image(png_header(width, height), max_pixels=100_000)


@pytest.mark.parametrize(
    "grey,file_format",
    [
        (np.linspace(0, 65535, 64 * 64).astype(np.uint16), "PNG"),  # 16-bit, as scanners and microscopes save
        (np.linspace(0, 1, 64 * 64).astype(np.float32), "TIFF"),
        (np.linspace(0, 255, 64 * 64).astype(np.float32), "TIFF"),
    ],
)
def test_decode_image_scales_deep_greys_instead_of_clipping_them(grey, file_format):
    image = decode_image(encoded(grey.reshape(64, 64), file_format), mode="L")
    assert image.min() == 0 and image.max() == 255 and abs(image.mean() - 127.5) < 1


@EXAMPLES
@given(data=st.binary(max_size=1024))
def test_read_image_takes_any_file(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "upload.png"
    path.write_bytes(data)
    image = outcome(read_image, path)
    if image is not None:
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3


# --- preparing an image for a task's model --------------------------------------------------------------------


@EXAMPLES
@given(image=st.one_of(arrays, image_arrays))
def test_digits_drawing_to_mnist_digit(image):
    digit = outcome(drawing_to_mnist_digit, image)
    if digit is not None:
        assert digit.shape == (28, 28, 1) and np.isfinite(digit).all()
        assert digit.min() >= 0 and digit.max() <= 255


def test_digits_drawing_to_mnist_digit_with_no_channels():
    with pytest.raises(InputError, match="channels"):
        drawing_to_mnist_digit(np.zeros((16, 16, 0), np.uint8))


@EXAMPLES
@given(image=st.one_of(arrays, image_arrays), dataset=st.sampled_from(sorted(OBJECT_DATASETS)))
def test_objects_photo_to_dataset_image(image, dataset):
    photo = outcome(photo_to_dataset_image, image, dataset)
    if photo is not None:
        assert photo.shape == OBJECT_DATASETS[dataset].shape and photo.dtype == np.uint8


@EXAMPLES
@given(image=st.one_of(arrays, image_arrays), size=st.sampled_from([32, 224]))
def test_transfer_square_photo(image, size):
    photo = outcome(square_photo, image, size)
    if photo is not None:
        assert photo.shape == (size, size, 3) and photo.dtype == np.uint8


@EXAMPLES
@given(image=st.one_of(arrays, image_arrays), dataset=st.sampled_from(sorted(IMAGE_SHAPES)))
def test_inpainting_fit_to_dataset(image, dataset):
    prepared = outcome(fit_to_dataset, image, dataset)
    if prepared is not None:
        assert prepared.shape == IMAGE_SHAPES[dataset]
        assert prepared.min() >= 0 and prepared.max() <= 1


def test_inpainting_fit_to_dataset_channel_counts():
    assert fit_to_dataset(np.zeros((16, 16, 1), np.uint8), "fashion_mnist").shape == (32, 32, 1)
    with pytest.raises(InputError, match="channels"):
        fit_to_dataset(np.zeros((16, 16, 5), np.uint8), "fashion_mnist")


@pytest.fixture(scope="module")
def tiny_denoiser():
    """A one-convolution stand-in for DnCNN: what is checked here is `denoise`'s handling of shapes."""
    inputs = keras.Input((None, None, 1))
    return keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(image=arrays)
def test_denoise_takes_any_array(image, tiny_denoiser):
    clean = outcome(lambda pixels: denoise(tiny_denoiser, pixels, tile=16, margin=4), image)
    if clean is not None:
        assert clean.shape == image.shape and clean.ndim == 2 and clean.dtype == np.float32


# --- audio ----------------------------------------------------------------------------------------------------


@EXAMPLES
@given(data=st.binary(max_size=2048))
def test_decode_audio_takes_any_bytes(data):
    decoded = outcome(decode_audio, data)
    if decoded is not None:
        audio, rate = decoded
        assert audio.ndim == 2 and audio.dtype == np.float32 and rate > 0


@st.composite
def wav_files(draw):
    """WAV (or FLAC/OGG) bytes of random rate, channel count, length and content: silent, clipped, NaN..."""
    rate = draw(st.sampled_from([1, 100, 8000, 16000, 22050, 44100, 48000, 96000]))
    channels = draw(st.integers(1, 8))
    samples = draw(st.integers(0, 3 * rate if rate < 8000 else 16000))
    kind = draw(st.sampled_from(["noise", "silent", "clipped", "nan", "loud"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    audio = {
        "noise": lambda: 0.3 * rng.standard_normal((samples, channels)),
        "silent": lambda: np.zeros((samples, channels)),
        "clipped": lambda: np.clip(5 * rng.standard_normal((samples, channels)), -1, 1),
        "nan": lambda: np.full((samples, channels), np.nan),
        "loud": lambda: 1e6 * rng.standard_normal((samples, channels)),
    }[kind]().astype(np.float32)
    file_format, subtype = draw(st.sampled_from([("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", "PCM_16")]))
    buffer = io.BytesIO()
    try:
        sf.write(buffer, audio, rate, format=file_format, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, ValueError, AssertionError):  # formats that refuse a rate or size
        buffer = io.BytesIO()
        sf.write(buffer, audio, max(rate, 8000), format="WAV", subtype="FLOAT")
    data = buffer.getvalue()
    cut = draw(st.sampled_from([None, 0.1, 0.5, 0.99]))
    return data if cut is None else data[: int(cut * len(data))]


@settings(max_examples=30, deadline=None)
@given(data=wav_files())
def test_uploaded_audio_is_decoded_and_checked_or_refused(data):
    """What the separation page does with an upload: decode_audio, then load_mixture (downmix, resample)."""
    decoded = outcome(decode_audio, data)
    if decoded is None:
        return
    audio, rate = decoded
    mixture = outcome(load_mixture, audio, rate)
    if mixture is not None:
        assert mixture.ndim == 1 and mixture.dtype == np.float32 and np.isfinite(mixture).all()


@settings(max_examples=30, deadline=None)
@given(audio=arrays, rate=st.sampled_from([1, 8000, 16000, 44100]))
def test_load_mixture_takes_any_array(audio, rate):
    mixture = outcome(load_mixture, audio, rate)
    if mixture is not None:
        assert mixture.ndim == 1 and mixture.dtype == np.float32 and np.isfinite(mixture).all()


def test_load_mixture_refuses_nan_audio_at_another_rate():
    with pytest.raises(InputError, match="NaN"):
        load_mixture(np.full((1, 8000), np.nan, np.float32), 8000)


def test_decode_audio_refuses_files_over_its_limit():
    with pytest.raises(InputError, match="limit"):
        decode_audio(b"\0" * 2048, max_bytes=1024)


# --- zips of class folders ------------------------------------------------------------------------------------

names = st.lists(
    st.one_of(
        st.sampled_from(["a/1.png", "b/2.jpg", "top/a/1.png", "top/b/2.png", "../evil.png", "/abs/x.png", "x.png"]),
        st.text(st.sampled_from("ab/._-.pngj"), min_size=1, max_size=14),
    ),
    min_size=0,
    max_size=6,
    unique=True,
)


@EXAMPLES
@given(data=st.binary(max_size=1024))
def test_extract_image_zip_takes_any_bytes(data, tmp_path_factory):
    outcome(extract_image_zip, data, tmp_path_factory.mktemp("zip"))


@EXAMPLES
@given(members=names, payload=st.binary(max_size=64))
def test_extract_image_zip_writes_only_inside_its_folder(members, payload, tmp_path_factory):
    root = tmp_path_factory.mktemp("zip")
    target = root / "target"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in members:
            archive.writestr(name, payload)
    if outcome(extract_image_zip, buffer.getvalue(), target) is not None:
        for path in target.rglob("*"):
            assert path.resolve().is_relative_to(target.resolve())
            assert path.is_dir() or len(path.relative_to(target).parts) == 2
    assert {p.name for p in root.iterdir()} <= {"target"}
