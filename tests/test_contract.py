"""The contract every task fulfils, checked over every task name: a new task gets these tests by adding one line
to SMOKE (its tiny data fixture and the settings of a tiny, fast run).

Also the layering of the package: no import circle, and no import running back up the layers.
"""

from __future__ import annotations

import ast
import json
import pickle
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.harness import ROOT, train_once
from toolkit import saving, tasks
from toolkit.cli import task_and_config, task_help

# task -> (fixture with its tiny data directory, settings of a one-epoch run of a few steps on it)
SMOKE = {
    "digits": ("tiny_mnist", ["model=mlp", "limit=64", "batch_size=32"]),
    "objects": ("tiny_fashion", ["model=resnet", "depth=8", "validation_size=10", "limit=64"]),
    "denoising": (
        "tiny_images",
        ["depth=4", "filters=8", "batch_size=8", "patch_size=16", "patches_per_epoch=16", "baselines=none"],
    ),
    "transfer": ("shapes", ["dataset=shapes", "image_size=32", "batch_size=8", "label_curve=false"]),
    "separation": (
        "corpus",
        ["hidden=16", "batch_size=4", "window_frames=16", "steps_per_epoch=2", "eval_clips=2", "eval_seconds=2"],
    ),
    "inpainting": ("tiny_fashion", ["filters=4", "latent_dim=8", "batch_size=32", "images=4", "steps=3", "starts=2"]),
}


def test_every_task_declares_a_smoke_run():
    assert set(SMOKE) == set(tasks.names()), "add the new task to SMOKE: its tiny data fixture and settings"


def data_words(name: str, request) -> list[str]:
    fixture, words = SMOKE[name]
    folder = request.getfixturevalue(fixture)
    key = "corpus_dir" if fixture == "corpus" else "data_dir"
    return [f"task={name}", f"{key}={folder}", *words]


@pytest.mark.parametrize("name", tasks.names())
def test_every_model_variant_builds(name, request):
    words = data_words(name, request)
    for variant in tasks.get(name).models:
        task, config = task_and_config([*words, f"model={variant}"])
        model = task.build(config)
        assert isinstance(model, keras.Model) and model.count_params() > 0, variant


def example_inputs(model: keras.Model):
    """Random inputs of the model's input shapes, unknown sizes set to 32; integer inputs get small integers."""
    rng = np.random.default_rng(0)
    arrays = []
    for tensor in model.inputs:
        shape = [2] + [32 if size is None else size for size in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            arrays.append(rng.integers(0, 4, shape).astype(tensor.dtype))
        else:
            arrays.append(rng.uniform(0, 1, shape).astype("float32"))
    return arrays[0] if len(arrays) == 1 else arrays


@pytest.mark.parametrize("name", tasks.names())
def test_a_tiny_run_ships_a_model_that_loads_in_a_fresh_process(name, request, tmp_path):
    words = data_words(name, request)
    result = train_once(words, tmp_path)
    task, config = task_and_config(words)
    shipped = tmp_path / "out" / f"{task.artifact(config)}.keras"
    assert shipped.is_file() and (tmp_path / "run" / "model.keras").is_file()
    card = json.loads(shipped.with_suffix(".json").read_text())
    assert card["task"] == name and card["artifact"] == task.artifact(config)
    assert task.metric in card["metrics"] and np.isfinite(card["metrics"][task.metric])

    if not hasattr(result.model, "inputs"):
        return  # a subclassed model (the DCGAN) is checked by its task's own round-trip test
    inputs = example_inputs(result.model)
    # pickled as they are: np.array(inputs, dtype=object) would turn a one-input model's array into Python floats
    (tmp_path / "inputs.pkl").write_bytes(pickle.dumps(inputs))
    expected = keras.tree.flatten(saving.load_model(shipped).predict(inputs, verbose=0))
    # only what `import toolkit` registers, no task adapter, and safe mode on
    script = (
        "import pickle, sys, numpy as np, keras, toolkit\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "inputs = pickle.loads(open(sys.argv[2], 'rb').read())\n"
        "assert not [m for m in sys.modules if m.startswith('toolkit.tasks.') and m != 'toolkit.tasks.base']\n"
        "for i, out in enumerate(keras.tree.flatten(model.predict(inputs, verbose=0))):\n"
        "    np.save(f'{sys.argv[3]}/out{i}.npy', np.asarray(out, 'float32'))\n"  # bfloat16 has no .npy type
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(shipped), str(tmp_path / "inputs.pkl"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for i, want in enumerate(expected):
        np.testing.assert_allclose(np.load(tmp_path / f"out{i}.npy"), np.asarray(want, "float32"), atol=1e-4)


@pytest.mark.parametrize("name", tasks.names())
def test_help_lists_every_setting_with_default_and_meaning(name):
    task = tasks.get(name)
    lines = task_help(task).splitlines()
    assert lines[0].startswith(f"{name}: ") and set(task.models) <= set(lines[1].split(": ")[1].split(", "))
    settings = {line.split()[0].split("=")[0]: line.split(None, 1) for line in lines[3:]}
    assert set(settings) == set(OmegaConf.structured(task.Config)) - {"task"}
    missing = [key for key, words in settings.items() if len(words) < 2]  # a default and a one-line meaning
    assert not missing, f"settings of {name} without a meaning: {missing}"


@pytest.mark.parametrize("name", tasks.names())
def test_every_task_reads_its_data_set_from_dataset(name):
    assert "dataset" in OmegaConf.structured(tasks.get(name).Config), f"{name}: call the data set setting dataset="


@pytest.mark.parametrize("shipped", sorted((ROOT / "trained").glob("*.keras")), ids=lambda path: path.stem)
def test_every_shipped_file_loads_without_the_task_adapters(shipped):
    script = (
        "import sys, toolkit\n"
        "from toolkit import saving\n"
        "saving.load_model(sys.argv[1])\n"
        "assert not [m for m in sys.modules if m.startswith('toolkit.tasks.') and m != 'toolkit.tasks.base']\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(shipped)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


# --- layering ---------------------------------------------------------------------------------------------------

ENTRY_POINTS = {"toolkit.train", "toolkit.evaluate", "toolkit.cli"}


def module_imports(path: Path) -> set[str]:
    """The toolkit modules a file imports, at its top level or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "toolkit"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def toolkit_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in (ROOT / "toolkit").rglob("*.py")}
    return {name: {m for m in module_imports(path) if m in files and m != name} for name, path in files.items()}


def test_no_import_circle():
    graph = toolkit_graph()
    graph = {name: {m for m in deps if m != "toolkit"} for name, deps in graph.items() if name != "toolkit"}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph.get(name, ())):
            if state.get(dep) == 1:
                cycle = path[path.index(dep) :] + [dep] if dep in path else [name, dep]
                raise AssertionError("import circle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def is_adapter(module: str) -> bool:
    """A task adapter or the registry; the contract they fulfil (toolkit.tasks.base) is shared machinery."""
    return module.startswith("toolkit.tasks") and module != "toolkit.tasks.base"


def test_no_import_runs_back_up_the_layers():
    """Task packages and shared modules never import the adapters or the entry points; apps, bench and foundations
    call the task packages' APIs, not the adapters."""
    wrong = []
    for name, deps in toolkit_graph().items():
        if name == "toolkit" or is_adapter(name) or name in ENTRY_POINTS:
            continue
        wrong += [f"{name} -> {dep}" for dep in deps if is_adapter(dep) or dep in ENTRY_POINTS]
    for path in [*(ROOT / "apps").rglob("*.py"), *(ROOT / "bench").rglob("*.py")]:
        found = module_imports(path)
        wrong += [f"{path.relative_to(ROOT)} -> {dep}" for dep in found if dep.startswith("toolkit.tasks.")]
    assert not wrong, wrong
