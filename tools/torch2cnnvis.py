#!/usr/bin/env python3
"""torch2cnnvis.py - a PyTorch model to a cnnvis.h checkpoint (cnnvis2torch.py goes back).

Reads what torch.save wrote: torchvision's AlexNet state dict (features.0.weight ...
classifier.6.bias, e.g. the pretrained ImageNet weights), or a whole pickled model that is an
nn.Sequential (nested ones too) of Conv2d, ReLU, MaxPool2d, LocalResponseNorm, Dropout,
Flatten and Linear, or is AlexNet-shaped (features, avgpool, classifier). AdaptiveAvgPool2d
is accepted only where it is the identity for the input size (AlexNet's at 224x224);
anything else is refused with a message naming the module.

    python3 tools/torch2cnnvis.py alexnet.pt alexnet.cnnvis --classes imagenet_classes.txt
    python3 tools/torch2cnnvis.py model.pt model.cnnvis --input 3x32x32 --mean 0.5 --std 0.25

Options: --input CxHxW (3x224x224), --mean and --std (one number or one per channel; default
ImageNet's for 3 channels, as torchvision's weights expect, else 0 and 1), --classes FILE
(one class name per line, at most 63 bytes each; default "0", "1", ...).

Layer names follow cnnvis's presets: conv1, relu1, pool1, ..., drop6, fc6, relu6, ...: a
conv or fc layer starts stage n, the ReLU, pool, LRN ("norm") and flatten after it share
its number, and a dropout takes the number of the conv or fc layer that follows it
(torchvision's order). A Sequential whose children have names (not 0, 1, ...) keeps them.
A Flatten whose next layer other than dropouts is Linear leaves no layer: cnnvis's fc
layer flattens its input itself. The same applies to the flatten in AlexNet's forward().

Runs with PyTorch 1.13 or later (Debian's python3-torch); torchvision is not needed. The
checkpoint layout is in docs/checkpoint.md.
"""
import argparse
import os
import struct
import sys
import zlib
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

MAGIC = b"CNNVISck"
VERSION = 1
CONV, RELU, MAXPOOL, LRN, DROPOUT, FC, FLATTEN = 1, 2, 3, 4, 5, 6, 7
KIND_NAMES = {CONV: "conv", RELU: "relu", MAXPOOL: "maxpool", LRN: "lrn", DROPOUT: "dropout", FC: "fc",
              FLATTEN: "flatten"}
NAME_LEN = 32     # CNNVIS_NAME_LEN, with the terminating zero
CLASS_LEN = 64    # CNNVIS_CLASS_LEN, with the terminating zero
MAX_LAYERS = 64   # CNNVIS_MAX_LAYERS
HEADER = struct.Struct("<8sI5I6f")             # magic, version, in_c, in_h, in_w, n_layers, n_classes, mean, std
LAYER = struct.Struct("<I32s6i4f2I")           # kind, name, out_channels .. size, alpha, beta, k, p, n_w, n_b
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ConvertError(Exception):
    """A model or checkpoint this converter cannot translate; the message says why."""


class AlexNet(nn.Module):
    """torchvision.models.AlexNet's modules under the same names, so that its state dicts
    (features.0.weight ... classifier.6.bias) load into this without torchvision."""

    def __init__(self, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2))
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


class Layer:
    """One cnnvis layer record: cnnvis_layer_desc's fields plus its numbers (float32 numpy
    arrays in PyTorch's layout, or None)."""

    def __init__(self, kind, name="", out_channels=0, kernel=0, stride=0, pad=0, groups=0, size=0,
                 alpha=0.0, beta=0.0, k=0.0, p=0.0, weight=None, bias=None):
        self.kind, self.name = kind, name
        self.out_channels, self.kernel, self.stride, self.pad, self.groups = out_channels, kernel, stride, pad, groups
        self.size, self.alpha, self.beta, self.k, self.p = size, alpha, beta, k, p
        self.weight, self.bias = weight, bias

    def geometry(self):
        """Everything but the name and the numbers: what makes two architectures equal."""
        return (self.kind, self.out_channels, self.kernel, self.stride, self.pad, self.groups, self.size,
                np.float32(self.alpha), np.float32(self.beta), np.float32(self.k), np.float32(self.p))


class Checkpoint:
    """A cnnvis checkpoint in memory: input shape (C, H, W), mean and std (3 each), layers,
    class names."""

    def __init__(self, input_shape, mean, std, layers, class_names):
        self.input_shape, self.mean, self.std = tuple(input_shape), tuple(mean), tuple(std)
        self.layers, self.class_names = layers, list(class_names)


# --- The checkpoint file -----------------------------------------------------------------

def write_checkpoint(ck, path):
    """Write ck in cnnvis_net_save's layout: to path.tmp, then renamed over path."""
    if not 1 <= len(ck.layers) <= MAX_LAYERS:
        raise ConvertError("%d layers: cnnvis nets have 1 to %d" % (len(ck.layers), MAX_LAYERS))
    parts = [HEADER.pack(MAGIC, VERSION, *ck.input_shape, len(ck.layers), len(ck.class_names), *ck.mean, *ck.std)]
    for L in ck.layers:
        name = L.name.encode("utf-8")
        if len(name) >= NAME_LEN:
            raise ConvertError("layer name %r is longer than %d bytes" % (L.name, NAME_LEN - 1))
        w = np.zeros(0, "<f4") if L.weight is None else np.ascontiguousarray(L.weight, "<f4").reshape(-1)
        b = np.zeros(0, "<f4") if L.bias is None else np.ascontiguousarray(L.bias, "<f4").reshape(-1)
        parts.append(LAYER.pack(L.kind, name, L.out_channels, L.kernel, L.stride, L.pad, L.groups, L.size,
                                L.alpha, L.beta, L.k, L.p, w.size, b.size))
        parts += [w.tobytes(), b.tobytes()]
    for c, cname in enumerate(ck.class_names):
        raw = cname.encode("utf-8")
        if len(raw) >= CLASS_LEN:
            raise ConvertError("class %d's name %r is longer than %d bytes" % (c, cname, CLASS_LEN - 1))
        parts.append(bytes([len(raw)]) + raw)
    crc = 0
    for part in parts:
        crc = zlib.crc32(part, crc)
    with open(path + ".tmp", "wb") as f:
        for part in parts:
            f.write(part)
        f.write(struct.pack("<I", crc & 0xFFFFFFFF))
    os.replace(path + ".tmp", path)


def read_checkpoint(path):
    """Read a checkpoint cnnvis_net_save (or write_checkpoint) wrote; refuses a wrong magic
    or version, a CRC mismatch and truncated files."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < HEADER.size + 4 or data[:8] != MAGIC:
        raise ConvertError("%s: not a cnnvis checkpoint (expected the magic \"CNNVISck\")" % path)
    magic, version, in_c, in_h, in_w, n_layers, n_classes, *norm = HEADER.unpack_from(data, 0)
    if version != VERSION:
        raise ConvertError("%s: checkpoint version %d, this converter reads version %d" % (path, version, VERSION))
    stored, = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(memoryview(data)[:-4]) & 0xFFFFFFFF != stored:
        raise ConvertError("%s: CRC mismatch: the file is corrupt or truncated" % path)
    if not 1 <= n_layers <= MAX_LAYERS:
        raise ConvertError("%s: %d layers (1..%d)" % (path, n_layers, MAX_LAYERS))
    at, layers = HEADER.size, []
    for i in range(n_layers):
        if at + LAYER.size > len(data) - 4:
            raise ConvertError("%s: truncated in layer %d" % (path, i))
        kind, name, oc, kernel, stride, pad, groups, size, alpha, beta, k, p, n_w, n_b = LAYER.unpack_from(data, at)
        if kind not in KIND_NAMES:
            raise ConvertError("%s: layer %d has unknown kind %d" % (path, i, kind))
        at += LAYER.size
        if at + 4 * (n_w + n_b) > len(data) - 4:
            raise ConvertError("%s: truncated in layer %d's numbers" % (path, i))
        w = np.frombuffer(data, "<f4", n_w, at).astype(np.float32) if n_w else None
        b = np.frombuffer(data, "<f4", n_b, at + 4 * n_w).astype(np.float32) if n_b else None
        at += 4 * (n_w + n_b)
        layers.append(Layer(kind, name.split(b"\0")[0].decode("utf-8"), oc, kernel, stride, pad, groups, size,
                            alpha, beta, k, p, w, b))
    names = []
    for c in range(n_classes):
        if at >= len(data) - 4 or at + 1 + data[at] > len(data) - 4:
            raise ConvertError("%s: truncated in class name %d" % (path, c))
        names.append(data[at + 1:at + 1 + data[at]].decode("utf-8"))
        at += 1 + data[at]
    if at != len(data) - 4:
        raise ConvertError("%s: %d unexpected bytes before the CRC" % (path, len(data) - 4 - at))
    return Checkpoint((in_c, in_h, in_w), norm[:3], norm[3:], layers, names)


# --- PyTorch -> cnnvis -------------------------------------------------------------------

FLATTEN_IN_FORWARD = "torch.flatten in forward()"


def _leaves(module, path, seq_name=None):
    """(path, module, name) in the order the model's forward runs them, path as in the state
    dict; name is the module's name in its Sequential, None elsewhere."""
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, path + [name], name)
    elif _alexnet_shaped(module):
        # torchvision's AlexNet (and VGG-like models): features, avgpool, flatten, classifier
        yield from _leaves(module.features, path + ["features"])
        yield from _leaves(module.avgpool, path + ["avgpool"])
        yield path + ["flatten"], FLATTEN_IN_FORWARD, None
        yield from _leaves(module.classifier, path + ["classifier"])
    else:
        yield path, module, seq_name


def _alexnet_shaped(module):
    return all(hasattr(module, a) for a in ("features", "avgpool", "classifier"))


def _square(value, what, where):
    if isinstance(value, str):
        raise ConvertError("%s: %s=%r: give it as a number" % (where, what, value))
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ConvertError("%s: %s %r is not square; cnnvis layers are square" % (where, what, tuple(value)))
        value = value[0]
    return int(value)


def _numpy(t):
    return t.detach().to("cpu", torch.float32).contiguous().numpy().copy()


def module_to_checkpoint(model, input_shape=(3, 224, 224), mean=None, std=None, class_names=None):
    """Translate model (an nn.Sequential or AlexNet-shaped module) for input_shape (C, H, W)
    into a Checkpoint. mean/std: 3 numbers each (None: ImageNet's for 3 channels, else 0 and
    1); class_names: None for "0", "1", ..."""
    c, h, w = (int(v) for v in input_shape)
    leaves = [(".".join(["model"] + p), m, name) for p, m, name in _leaves(model, [])]
    layers, stage, flat = [], 0, False
    for i, (where, m, name) in enumerate(leaves):
        own = name if name and not name.isdigit() else None  # a named child keeps its name
        if isinstance(m, nn.Conv2d):
            if flat:
                raise ConvertError("%s: a Conv2d after Flatten or Linear" % where)
            if m.in_channels != c:
                raise ConvertError("%s: Conv2d takes %d channels, its input has %d" % (where, m.in_channels, c))
            if _square(m.dilation, "dilation", where) != 1 or m.padding_mode != "zeros":
                raise ConvertError("%s: only dilation 1 and zero padding are supported" % where)
            k, s, p = (_square(v, n, where) for v, n in ((m.kernel_size, "kernel_size"), (m.stride, "stride"),
                                                         (m.padding, "padding")))
            stage += 1
            bias = _numpy(m.bias) if m.bias is not None else np.zeros(m.out_channels, np.float32)
            layers.append(Layer(CONV, own or "conv%d" % stage, m.out_channels, k, s, p, m.groups,
                                weight=_numpy(m.weight), bias=bias))
            c, h, w = m.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif isinstance(m, nn.ReLU):
            layers.append(Layer(RELU, own or "relu%d" % stage))
        elif isinstance(m, nn.MaxPool2d):
            if m.ceil_mode or _square(m.dilation, "dilation", where) != 1:
                raise ConvertError("%s: only MaxPool2d with ceil_mode=False and dilation 1 is supported" % where)
            k = _square(m.kernel_size, "kernel_size", where)
            s = _square(m.stride if m.stride is not None else k, "stride", where)
            p = _square(m.padding, "padding", where)
            layers.append(Layer(MAXPOOL, own or "pool%d" % stage, 0, k, s, p))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif isinstance(m, nn.LocalResponseNorm):
            if not (m.size > 0 and m.alpha != 0 and m.beta != 0 and m.k != 0):
                raise ConvertError("%s: LocalResponseNorm(%r, %r, %r, %r): cnnvis reads a size, alpha, beta or k of 0 "
                                   "as its default (5, 1e-4, 0.75, 2)" % (where, m.size, m.alpha, m.beta, m.k))
            layers.append(Layer(LRN, own or "norm%d" % stage, size=m.size, alpha=m.alpha, beta=m.beta, k=m.k))
        elif type(m) is nn.Dropout and m.p == 0:
            pass  # the identity; cnnvis would read p = 0 as its default, 0.5
        elif type(m) is nn.Dropout:
            following = [n for _, n, _ in leaves[i + 1:] if isinstance(n, (nn.Conv2d, nn.Linear))]
            layers.append(Layer(DROPOUT, own or "drop%d" % (stage + (1 if following else 0)), p=m.p))
        elif isinstance(m, nn.Flatten) or m is FLATTEN_IN_FORWARD:
            if isinstance(m, nn.Flatten) and (m.start_dim != 1 or m.end_dim != -1):
                raise ConvertError("%s: only Flatten(1, -1) is supported" % where)
            rest = [n for _, n, _ in leaves[i + 1:] if type(n) is not nn.Dropout]
            if not (rest and isinstance(rest[0], nn.Linear)):  # else the fc layer flattens
                layers.append(Layer(FLATTEN, own or "flatten%d" % stage))
            c, h, w, flat = c * h * w, 1, 1, True
        elif isinstance(m, nn.Linear):
            if m.in_features != c * h * w:
                raise ConvertError("%s: Linear takes %d inputs, it gets %dx%dx%d = %d" % (
                    where, m.in_features, c, h, w, c * h * w))
            if not flat and (c, h) != (1, 1):  # PyTorch's Linear would act on the last axis alone
                raise ConvertError("%s: Linear on a %dx%dx%d input without Flatten before it" % (where, c, h, w))
            stage += 1
            bias = _numpy(m.bias) if m.bias is not None else np.zeros(m.out_features, np.float32)
            layers.append(Layer(FC, own or "fc%d" % stage, m.out_features, weight=_numpy(m.weight), bias=bias))
            c, h, w, flat = m.out_features, 1, 1, True
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            size = m.output_size if isinstance(m.output_size, (tuple, list)) else (m.output_size, m.output_size)
            size = (h if size[0] is None else size[0], w if size[1] is None else size[1])
            if size != (h, w):
                raise ConvertError(
                    "%s: AdaptiveAvgPool2d(%r) sees a %dx%d input for a %dx%dx%d image: it averages there, and "
                    "cnnvis has no average pooling. It is accepted only where it is the identity (its input "
                    "already %dx%d: 224x224 images for AlexNet); pass that --input size"
                    % (where, m.output_size, h, w, *input_shape, *size))
        elif isinstance(m, nn.Identity):
            pass
        else:
            raise ConvertError("%s: %s is not supported (Conv2d, ReLU, MaxPool2d, LocalResponseNorm, Dropout, "
                               "Flatten, Linear, and AdaptiveAvgPool2d where it is the identity)"
                               % (where, type(m).__name__))
        if c < 1 or h < 1 or w < 1:
            raise ConvertError("%s: the input %dx%dx%d is too small: nothing is left after it" % (where, *input_shape))
    if not layers:
        raise ConvertError("the model has no layers")
    n_classes = c * h * w
    if class_names is None:
        class_names = [str(i) for i in range(n_classes)]
    if len(class_names) != n_classes:
        raise ConvertError("%d class names for %d outputs" % (len(class_names), n_classes))
    used = set()
    for i, L in enumerate(layers):  # cnnvis needs unique names: a second pool in stage 2 is pool2_2
        if L.name in used:
            later, n = {M.name for M in layers[i + 1:]}, 2
            while "%s_%d" % (L.name, n) in used | later:
                n += 1
            L.name = "%s_%d" % (L.name, n)
        used.add(L.name)
    rgb = input_shape[0] == 3
    mean = tuple(mean) if mean is not None else (IMAGENET_MEAN if rgb else (0.0,) * 3)
    std = tuple(std) if std is not None else (IMAGENET_STD if rgb else (1.0,) * 3)
    return Checkpoint(input_shape, mean, std, layers, class_names)


def load_torch(path):
    """What torch.save wrote at path, as a module: a state dict of torchvision's AlexNet
    becomes our AlexNet with those weights; a whole model is returned as it is."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except TypeError:  # PyTorch before 1.13 has no weights_only
        obj = torch.load(path, map_location="cpu")
    if isinstance(obj, nn.Module):
        return obj
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        reference = AlexNet().state_dict()
        if set(obj) == set(reference):
            model = AlexNet(num_classes=obj["classifier.6.weight"].shape[0])
            model.load_state_dict(obj)
            return model
        missing = sorted(set(reference) - set(obj))[:3]
        raise ConvertError("%s: a state dict that is not torchvision's AlexNet (missing %s ...). A state dict has "
                           "no architecture: save the whole model (torch.save(model, path)) or call "
                           "module_to_checkpoint() from Python" % (path, ", ".join(missing)))
    raise ConvertError("%s: expected a state dict or an nn.Module, found %s" % (path, type(obj).__name__))


# --- cnnvis -> PyTorch -------------------------------------------------------------------

def checkpoint_to_module(ck):
    """The PyTorch model of a Checkpoint, with its weights: our AlexNet (torchvision's module
    names) if the layers are torchvision's AlexNet at 224x224, else an nn.Sequential whose
    children carry the cnnvis layer names. An fc layer whose input is not flat yet gets an
    nn.Flatten right before it (cnnvis's fc flattens its input itself)."""
    p = next((L.p for L in ck.layers if L.kind == DROPOUT), 0.5)
    n_out = ck.layers[-1].out_channels if ck.layers[-1].kind == FC else 0
    if ck.input_shape == (3, 224, 224) and n_out > 0:
        alexnet = AlexNet(num_classes=n_out, dropout=p)
        shape = module_to_checkpoint(alexnet, ck.input_shape, class_names=[""] * n_out).layers
        if [L.geometry() for L in shape] == [L.geometry() for L in ck.layers]:
            weighted = [m for m in alexnet.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
            _load(weighted, [L for L in ck.layers if L.weight is not None])
            return alexnet
    c, h, w = ck.input_shape
    modules, flat = OrderedDict(), False
    for L in ck.layers:
        if L.kind == CONV:
            if flat:
                raise ConvertError("layer %s: a conv layer after an fc or flatten layer has no PyTorch equivalent "
                                   "here" % L.name)
            m = nn.Conv2d(c, L.out_channels, L.kernel, L.stride, L.pad, groups=L.groups)
            c, h, w = L.out_channels, (h + 2 * L.pad - L.kernel) // L.stride + 1, (w + 2 * L.pad - L.kernel) // L.stride + 1
        elif L.kind == RELU:
            m = nn.ReLU()
        elif L.kind == MAXPOOL:
            m = nn.MaxPool2d(L.kernel, L.stride, L.pad)
            h, w = (h + 2 * L.pad - L.kernel) // L.stride + 1, (w + 2 * L.pad - L.kernel) // L.stride + 1
        elif L.kind == LRN:
            m = nn.LocalResponseNorm(L.size, L.alpha, L.beta, L.k)
        elif L.kind == DROPOUT:
            m = nn.Dropout(L.p)
        elif L.kind == FLATTEN:
            m, c, h, w, flat = nn.Flatten(), c * h * w, 1, 1, True
        else:
            if not flat:
                modules[L.name + "_flatten"] = nn.Flatten()
            m, c, h, w, flat = nn.Linear(c * h * w, L.out_channels), L.out_channels, 1, 1, True
        if L.name in modules:
            raise ConvertError("two layers are called %s" % L.name)
        modules[L.name] = m
    model = nn.Sequential(modules)
    weighted = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    _load(weighted, [L for L in ck.layers if L.weight is not None])
    return model


def _load(modules, layers):
    """Copy the layers' numbers into the modules' weights and biases, checking every count."""
    if len(modules) != len(layers):
        raise ConvertError("%d layers with weights for %d modules" % (len(layers), len(modules)))
    with torch.no_grad():
        for m, L in zip(modules, layers):
            for param, values, what in ((m.weight, L.weight, "weights"), (m.bias, L.bias, "biases")):
                n = 0 if values is None else values.size
                if n != param.numel():
                    raise ConvertError("layer %s has %d %s, its geometry needs %d" % (L.name, n, what, param.numel()))
                param.copy_(torch.from_numpy(values.reshape(param.shape)))


def parse_shape(text):
    try:
        shape = tuple(int(v) for v in text.lower().split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError("expected CxHxW, e.g. 3x224x224, got %r" % text)
    return shape


def parse_floats(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError("expected one number or three separated by commas, got %r" % text)
    if len(values) == 1:
        values *= 3
    if len(values) != 3:
        raise argparse.ArgumentTypeError("expected one number or three separated by commas, got %r" % text)
    return values


def read_class_names(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\r\n") for line in f if line.strip()]


def main(argv=None):
    ap = argparse.ArgumentParser(description="PyTorch model (torch.save) -> cnnvis.h checkpoint")
    ap.add_argument("model", help="torchvision AlexNet state dict, or a whole nn.Sequential / AlexNet-shaped model")
    ap.add_argument("checkpoint", help="the cnnvis checkpoint to write")
    ap.add_argument("--input", type=parse_shape, default=(3, 224, 224), help="input shape CxHxW (3x224x224)")
    ap.add_argument("--mean", type=parse_floats, help="per-channel mean (ImageNet's for 3 channels, else 0)")
    ap.add_argument("--std", type=parse_floats, help="per-channel std (ImageNet's for 3 channels, else 1)")
    ap.add_argument("--classes", help="class names, one per line (default 0, 1, ...)")
    args = ap.parse_args(argv)
    try:
        model = load_torch(args.model)
        names = read_class_names(args.classes) if args.classes else None
        ck = module_to_checkpoint(model, args.input, args.mean, args.std, names)
        write_checkpoint(ck, args.checkpoint)
    except (ConvertError, OSError) as e:
        print("torch2cnnvis: %s" % e, file=sys.stderr)
        return 1
    n_params = sum(L.weight.size + L.bias.size for L in ck.layers if L.weight is not None)
    print("%s: %d layers (%s), input %s, %d classes, %d parameters, mean %s std %s" % (
        args.checkpoint, len(ck.layers), " ".join(L.name for L in ck.layers), "x".join(map(str, ck.input_shape)),
        len(ck.class_names), n_params, ",".join("%g" % v for v in ck.mean), ",".join("%g" % v for v in ck.std)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
