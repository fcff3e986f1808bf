"""bench.peers.cifar10: the reference airbench94 trainer reads the toolkit's CIFAR-10 pixels and trains on the CPU
through the smallest stand-ins for its CUDA calls. Needs the bench-only extra (.[peers]); skipped without it.

Each check runs in a fresh process that imports the benchmark first: PyTorch's torchvision loads triton, whose
library crashes the process (segmentation fault) when TensorFlow, which the test session has imported, came first.
"""

import importlib.util
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests.harness import ROOT, run_script
from toolkit.objects.data import load_object_split

pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("airbench", "torch")), reason="needs .[peers]"
)

SCRIPT = """
import json, sys
from pathlib import Path
from bench.peers import cifar10 as peers  # first: see the test module's docstring
import airbench, numpy as np, torch

data_dir, work = sys.argv[1], Path(sys.argv[2])
folder = peers.convert(work / "data", data_dir=data_dir)
report = {}
for split in ("train", "test"):  # what airbench's loader reads from the converted files
    loader = peers.cpu_loader(folder, split == "train", batch_size=10)
    report[split] = [str(loader.images.dtype), str(loader.labels.dtype)]
    np.save(work / f"{split}_images.npy", loader.images.permute(0, 2, 3, 1).numpy())
    np.save(work / f"{split}_labels.npy", loader.labels.numpy())

built = peers.cpu_net
for precision in ("float32", "bfloat16"):
    dtypes, heads = set(), []

    def watched_net():  # what train94 builds, with a look at the dtype its convolutions compute in
        net = built()
        net[2].conv1.register_forward_hook(lambda module, inputs, output: dtypes.add(str(output.dtype)))
        heads.append(net[-2].weight.detach().clone())
        return net

    peers.cpu_net = watched_net
    model, figures = peers.train_reference(folder, precision, epochs=1, batch_size=20)
    report[precision] = {
        "figures": figures,
        "computed_in": sorted(dtypes),
        "weights": sorted({f"{p.device.type} {p.dtype}" for p in model.parameters()}),
        "head_moved": not torch.equal(model[-2].weight, heads[0]),
        "stand_ins_gone": torch.cuda.Event is not peers.CpuEvent and airbench.utils.CifarLoader is airbench.CifarLoader,
    }

images = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
def whitening_filters():
    layer = torch.nn.Conv2d(3, 24, 2)
    airbench.utils.init_whitening_conv(layer, images)  # looked up as train94 looks it up
    return layer.weight.detach().clone()
float32 = whitening_filters()
with torch.autocast("cpu", torch.bfloat16):
    rounded = whitening_filters()
    with peers.on_cpu(folder):
        guarded = whitening_filters()
report["whitening"] = {
    "guarded_is_float32": torch.allclose(guarded, float32, rtol=1e-5, atol=1e-6),
    "autocast_alone_differs": not torch.allclose(rounded, float32, rtol=1e-3, atol=1e-3),
}

row = work / "toolkit" / "row.json"
first = peers.cached_row(row, lambda: {"trainer": "t", "minutes": 1.0})
def train_again():
    raise AssertionError("a finished row was trained again")
report["row_reused"] = peers.cached_row(row, train_again) == first == json.loads(row.read_text())
report["row_stamped"] = first["finished (UTC)"]

trained = []  # --rounds: which rows train, in which order, into which folders (the trainers stood in for)
peers.RUNS, peers.convert = work / "runs", lambda folder, limit=None, data_dir=None: folder
peers.reference_row = lambda precision, epochs, data: trained.append(precision) or {"trainer": "reference"}
peers.toolkit_row = lambda recipe, epochs, limit, folder: trained.append(folder.name) or {"trainer": "toolkit"}
peers.main(["toolkit-relu", "reference-bfloat16", "--rounds", "2", "--limit", "1024"])
report["rounds"] = trained
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def report(tiny_cifar, tmp_path_factory):
    """What the script above saw, and its folder (the converted data's arrays as airbench's loader reads them)."""
    work = tmp_path_factory.mktemp("peers")
    stdout = run_script(SCRIPT, str(tiny_cifar), str(work), backend="tensorflow")
    return json.loads(stdout.strip().splitlines()[-1]), work


def test_airbench_reads_the_pixels_and_labels_the_toolkit_loads(report, tiny_cifar):
    seen, work = report
    for split in ("train", "test"):
        images, labels = load_object_split("cifar10", split, str(tiny_cifar))
        assert seen[split] == ["torch.float32", "torch.int64"]
        np.testing.assert_allclose(np.load(work / f"{split}_images.npy"), images / 255, atol=1e-3)  # via float16
        np.testing.assert_array_equal(np.load(work / f"{split}_labels.npy"), labels)


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_reference_trains_on_the_cpu(report, precision):
    run = report[0][precision]
    assert run["computed_in"] == [f"torch.{precision}"]  # autocast computes in bfloat16
    assert run["weights"] == ["cpu torch.float32"]
    # five steps: airbench's lookahead first averages at step 5, and the run's end restores that average
    assert run["head_moved"] and run["stand_ins_gone"]
    figures = run["figures"]
    assert 0 <= figures["test_accuracy"] <= 1 and figures["training_seconds"] > 0
    assert figures["images"] == 5 * 20  # 100 training images, batches of 20, one epoch


def test_the_whitening_filters_are_computed_in_float32_under_autocast(report):
    assert report[0]["whitening"] == {"guarded_is_float32": True, "autocast_alone_differs": True}


def test_a_finished_row_is_reused_and_says_when_it_finished(report):
    assert report[0]["row_reused"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", report[0]["row_stamped"])


def test_rounds_train_the_rows_taking_turns(report):
    assert report[0]["rounds"] == ["toolkit-relu", "bfloat16", "toolkit-relu-round2", "bfloat16"]


def test_a_limit_below_one_batch_is_refused():
    done = subprocess.run(
        [sys.executable, "-m", "bench.peers.cifar10", "--limit", "100"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "at least 1024 images" in done.stderr
