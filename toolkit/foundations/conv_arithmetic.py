"""Convolution arithmetic: output size, parameter count and receptive field of a conv/pool/dense stack.

For a W x W input, an F x F kernel, stride S and zero padding P, the output is (W - F + 2P) / S + 1 wide.
When that division is not exact the layer does not tile its input; Keras (like every framework) then
drops the last incomplete window, i.e. takes the floor. "same" padding gives ceil(W / S).

A conv layer with K filters over C channels in G groups has F * F * (C / G) * K weights and K biases.
The receptive field r of a unit grows by (F - 1) * j per layer, where j is the product of earlier strides.

Stacks are written one layer per line, so the classic networks below are data, not code:

    input 227x227x3
    conv1: conv 96 11x11 s4      # filters, kernel, stride (s), padding (p<n> or "same"), groups (g)
    pool1: maxpool 3x3 s2        # or avgpool; stride defaults to the pool size
    fc6: fc 4096                 # a dense layer; the feature map is flattened first
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import keras
from keras import layers

from toolkit.errors import InputError

Shape = tuple[int, ...]  # (H, W, C) for feature maps, (units,) after a dense layer

LENET5 = """\
input 32x32x1
C1: conv 6 5x5
S2: avgpool 2x2
C3: conv 16 5x5
S4: avgpool 2x2
C5: conv 120 5x5
F6: fc 84
output: fc 10
"""

# Krizhevsky et al. 2012 with the 227x227 input that makes the arithmetic exact. g2: the layers split over
# two GPUs (conv2, conv4, conv5 see only their own GPU's half of the channels). Response normalisation has
# no weights and keeps the shape, so it is left out.
ALEXNET = """\
input 227x227x3
conv1: conv 96 11x11 s4
pool1: maxpool 3x3 s2
conv2: conv 256 5x5 p2 g2
pool2: maxpool 3x3 s2
conv3: conv 384 3x3 p1
conv4: conv 384 3x3 p1 g2
conv5: conv 256 3x3 p1 g2
pool5: maxpool 3x3 s2
fc6: fc 4096
fc7: fc 4096
fc8: fc 1000
"""

# Simonyan & Zisserman 2014, configuration D: 3x3 convolutions that keep the size, 2x2 pools that halve it.
VGG16 = """\
input 224x224x3
conv1_1: conv 64 3x3 p1
conv1_2: conv 64 3x3 p1
pool1: maxpool 2x2
conv2_1: conv 128 3x3 p1
conv2_2: conv 128 3x3 p1
pool2: maxpool 2x2
conv3_1: conv 256 3x3 p1
conv3_2: conv 256 3x3 p1
conv3_3: conv 256 3x3 p1
pool3: maxpool 2x2
conv4_1: conv 512 3x3 p1
conv4_2: conv 512 3x3 p1
conv4_3: conv 512 3x3 p1
pool4: maxpool 2x2
conv5_1: conv 512 3x3 p1
conv5_2: conv 512 3x3 p1
conv5_3: conv 512 3x3 p1
pool5: maxpool 2x2
fc6: fc 4096
fc7: fc 4096
fc8: fc 1000
"""

PRESETS = {"LeNet-5": LENET5, "AlexNet": ALEXNET, "VGG-16": VGG16}


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # "conv", "maxpool", "avgpool" or "fc"
    size: int  # kernel size F for conv/pool, units for fc
    filters: int = 0
    stride: int = 1
    padding: int | str = 0  # P, or "same"
    groups: int = 1


@dataclass(frozen=True)
class Row:
    """One layer as the formulas see it."""

    layer: Layer
    output: Shape
    params: int
    receptive_field: int | None  # in input pixels; None once a dense layer sees the whole input
    exact: bool  # (W - F + 2P) / S is a whole number


_LAYER = re.compile(r"^(?:(?P<name>[\w.-]+):\s*)?(?P<kind>conv|maxpool|avgpool|fc)\s+(?P<args>.*)$")


def parse(text: str) -> tuple[Shape, list[Layer]]:
    """Read a stack in the format above: the input shape and the layers."""
    lines = [(n, line.split("#")[0].strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line]
    if not lines or not (match := re.fullmatch(r"input\s+(\d+)x(\d+)x(\d+)", lines[0][1])):
        raise InputError("The first line must give the input size, e.g. 'input 32x32x3' (height x width x channels).")
    shape = tuple(int(v) for v in match.groups())
    stack = [_parse_layer(n, line, index) for index, (n, line) in enumerate(lines[1:], start=1)]
    if not stack or min(shape) < 1:
        raise InputError("Give a positive input size and at least one layer after the 'input' line.")
    names = [layer.name for layer in stack]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise InputError(f"Layer names must be unique; repeated: {', '.join(repeated)}.")
    return shape, stack


def _parse_layer(number: int, line: str, index: int) -> Layer:
    match = _LAYER.match(line)
    if not match:
        raise InputError(
            f"Line {number}: '{line}' is not a layer; write e.g. 'conv 32 3x3 s1 p1', 'maxpool 2x2' or 'fc 10'."
        )
    kind, args = match["kind"], match["args"].split()
    name = match["name"] or f"{kind}{index}"
    options = {"s": None, "p": 0, "g": 1}
    numbers = []
    for arg in args:
        if re.fullmatch(r"\d+(x\d+)?", arg):
            sizes = {int(v) for v in arg.split("x")}
            if len(sizes) != 1:
                raise InputError(f"Line {number}: only square kernels are supported, got {arg}.")
            numbers.append(sizes.pop())
        elif arg == "same":
            options["p"] = "same"
        elif re.fullmatch(r"[spg]\d+", arg):
            options[arg[0]] = int(arg[1:])
        else:
            raise InputError(f"Line {number}: cannot read '{arg}' (use s<stride>, p<padding>, same, g<groups>).")
    expected = {"conv": 2, "maxpool": 1, "avgpool": 1, "fc": 1}[kind]
    if len(numbers) != expected or min(numbers) < 1 or options["s"] == 0 or options["g"] < 1:
        usage = {"conv": "conv <filters> <kernel>", "fc": "fc <units>"}.get(kind, f"{kind} <size>")
        raise InputError(f"Line {number}: '{line}': expected '{usage}' with positive numbers.")
    if kind == "conv":
        filters, size = numbers
        stride = options["s"] or 1
    else:
        filters, size = 0, numbers[0]
        stride = options["s"] or (size if kind != "fc" else 1)
    return Layer(name, kind, size, filters, stride, options["p"], options["g"])


def output_size(width: int, kernel: int, stride: int, padding: int | str) -> tuple[int, bool]:
    """((W - F + 2P) // S + 1, whether the division is exact); "same" padding gives ceil(W / S)."""
    if padding == "same":
        return math.ceil(width / stride), True
    span = width - kernel + 2 * padding
    if span < 0:
        raise InputError(
            f"A {kernel}x{kernel} window does not fit an input {width} pixels wide with padding {padding}."
        )
    return span // stride + 1, span % stride == 0


def analyse(shape: Shape, stack: list[Layer]) -> list[Row]:
    """Apply the formulas layer by layer."""
    rows = []
    field, jump = 1, 1
    for layer in stack:
        try:
            if layer.kind == "fc":
                params = math.prod(shape) * layer.size + layer.size
                shape, field, exact = (layer.size,), None, True
            elif len(shape) != 3:
                raise InputError("a conv or pool layer cannot follow a dense layer")
            else:
                height, exact_h = output_size(shape[0], layer.size, layer.stride, layer.padding)
                width, exact_w = output_size(shape[1], layer.size, layer.stride, layer.padding)
                exact = exact_h and exact_w
                channels, params = shape[2], 0
                if layer.kind == "conv":
                    if channels % layer.groups or layer.filters % layer.groups:
                        raise InputError(
                            f"{layer.groups} groups must divide both {channels} input channels "
                            f"and {layer.filters} filters"
                        )
                    params = layer.size**2 * (channels // layer.groups) * layer.filters + layer.filters
                    channels = layer.filters
                shape = (height, width, channels)
                field, jump = (field + (layer.size - 1) * jump if field else None), jump * layer.stride
        except InputError as err:
            raise InputError(f"Layer {layer.name}: {err}") from None
        rows.append(Row(layer, shape, params, field, exact))
    return rows


@contextmanager
def _deferred_weights():
    """Variables created inside stay uninitialised shapes: VGG-16's 138M weights cost no memory or time.

    Keras lists deferred variables globally so a closing scope can initialise them; ours are taken off that
    list again (there is no public call for it), so nothing ever allocates them.
    """
    from keras.src.backend.common import global_state

    deferred = list(global_state.get_global_attribute("uninitialized_variables") or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            yield
    finally:
        global_state.set_global_attribute("uninitialized_variables", deferred)


def build_keras(shape: Shape, stack: list[Layer], allocate_weights: bool = False) -> keras.Model:
    """The same stack as Keras layers, named like the stack (padding layers get a '_pad' suffix).

    Without `allocate_weights` the model only knows its shapes: enough to count parameters, not to run it.
    """
    with nullcontext() if allocate_weights else _deferred_weights():
        inputs = keras.Input(shape)
        x = inputs
        for layer in stack:
            if layer.kind == "fc":
                if len(x.shape) > 2:
                    x = layers.Flatten(name=f"{layer.name}_flatten")(x)
                x = layers.Dense(layer.size, name=layer.name)(x)
                continue
            padding = "same" if layer.padding == "same" else "valid"
            if isinstance(layer.padding, int) and layer.padding:
                x = layers.ZeroPadding2D(layer.padding, name=f"{layer.name}_pad")(x)
            if layer.kind == "conv":
                x = layers.Conv2D(
                    layer.filters, layer.size, layer.stride, padding, groups=layer.groups, name=layer.name
                )(x)
            else:
                pool = layers.MaxPooling2D if layer.kind == "maxpool" else layers.AveragePooling2D
                x = pool(layer.size, layer.stride, padding, name=layer.name)(x)
        return keras.Model(inputs, x)


def compare_with_keras(text: str) -> list[dict]:
    """The formulas' table next to what Keras builds, one dict per layer (for a page or a test)."""
    shape, stack = parse(text)
    rows = analyse(shape, stack)
    model = build_keras(shape, stack)
    table = []
    for row in rows:
        keras_layer = model.get_layer(row.layer.name)
        keras_shape = tuple(keras_layer.output.shape[1:])
        keras_params = sum(math.prod(w.shape) for w in keras_layer.weights)
        table.append(
            {
                "layer": row.layer.name,
                "type": _describe(row.layer),
                "output (formula)": "x".join(map(str, row.output)),
                "output (Keras)": "x".join(map(str, keras_shape)),
                "parameters (formula)": row.params,
                "parameters (Keras)": keras_params,
                "receptive field": f"{row.receptive_field}x{row.receptive_field}" if row.receptive_field else "all",
                "tiles exactly": row.exact,
                "agrees": keras_shape == row.output and keras_params == row.params,
            }
        )
    return table


def _describe(layer: Layer) -> str:
    if layer.kind == "fc":
        return f"dense {layer.size}"
    text = f"{layer.kind} {layer.filters} " if layer.kind == "conv" else f"{layer.kind} "
    text += f"{layer.size}x{layer.size} s{layer.stride} "
    text += "same" if layer.padding == "same" else f"p{layer.padding}"
    return text + (f" g{layer.groups}" if layer.groups > 1 else "")
