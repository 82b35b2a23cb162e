"""Start weights for training: a checkpoint written by ``models.train`` (.pt) or an ONNX file it exported.

``python -m models.train --from models/compound_det.onnx`` fine-tunes the shipped model although only its ONNX
file ships. The exporter folds each BatchNorm into the convolution before it (``net.stem.0.0.weight`` and
``net.stem.0.0.weight_bias`` in the ONNX initializers), so the weights come back as folded convolutions with
identity BatchNorms after them. ``recalibrate`` then gives each BatchNorm the statistics of its convolution's
output on real training images (and the matching scale and shift), which leaves the network's eval-mode output
unchanged and makes train-mode batch statistics start where the exported model was.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import Tensor, nn

from models.net import CenterNetLite

log = logging.getLogger(__name__)


@dataclass(slots=True)
class StartPoint:
    """A network to train from: its weights, class names, and whether BatchNorms were folded (ONNX)."""

    net: CenterNetLite
    names: list[str]
    folded: bool
    source: Path


def load_start(path: Path) -> StartPoint:
    """Load a ``.pt`` checkpoint of ``models.train`` or an ``.onnx`` file that ``models.export`` wrote."""
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    if path.suffix.lower() == ".onnx":
        net, names = net_from_onnx(path)
        return StartPoint(net, names, True, path)
    if path.suffix.lower() in (".pt", ".pth"):
        state = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(state, dict) or "state_dict" not in state or "names" not in state:
            raise ValueError(f"{path} is not a checkpoint written by models.train (no state_dict/names)")
        names = [str(n) for n in state["names"]]
        net = CenterNetLite(len(names))
        net.load_state_dict(state["state_dict"])
        return StartPoint(net, names, False, path)
    raise ValueError(f"{path}: expected a .pt checkpoint or an .onnx model, not {path.suffix or 'no suffix'!r}")


def net_from_onnx(path: Path) -> tuple[CenterNetLite, list[str]]:
    """Rebuild a ``CenterNetLite`` from an exported ONNX file: folded convolutions, identity BatchNorms."""
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    if "names" not in meta:
        raise ValueError(f"{path} carries no class names in its metadata: not a models.export file")
    names = [str(n) for n in json.loads(meta["names"])]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    net = CenterNetLite(len(names))
    modules = dict(net.named_modules())
    with torch.no_grad():
        for mod_name, module in modules.items():
            if not isinstance(module, nn.Conv2d):
                continue
            key = f"net.{mod_name}"
            weight = _tensor(inits, f"{key}.weight", module.weight, path)
            module.weight.copy_(weight)
            if module.bias is not None:
                module.bias.copy_(_tensor(inits, f"{key}.bias", module.bias, path))
                continue
            bn = modules.get(_sibling(mod_name))
            if not isinstance(bn, nn.BatchNorm2d):
                raise ValueError(f"{path}: {mod_name} has no bias and no BatchNorm after it")
            bias = _tensor(inits, f"{key}.weight_bias", bn.bias, path)
            bn.weight.fill_(1.0)
            bn.bias.copy_(bias)
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    net.eval()
    return net, names


def _sibling(name: str) -> str:
    """``stem.0.0`` -> ``stem.0.1``: the BatchNorm that follows a convolution in ``_cbr``."""
    head, _, last = name.rpartition(".")
    return f"{head}.{int(last) + 1}"


def _tensor(inits: dict[str, np.ndarray], key: str, like: Tensor, path: Path) -> Tensor:
    if key not in inits:
        raise ValueError(f"{path}: no initializer {key!r}: not an export of this network (models/net.py)")
    value = torch.from_numpy(np.array(inits[key], dtype=np.float32))  # a writable copy
    if tuple(value.shape) != tuple(like.shape):
        raise ValueError(f"{path}: {key} has shape {tuple(value.shape)}, the network expects {tuple(like.shape)}")
    return value


@torch.no_grad()
def recalibrate(net: CenterNetLite, images: Tensor) -> None:
    """Unfold identity BatchNorms: give each the mean and variance of its convolution's output on ``images``.

    With mean ``m`` and variance ``v``, a BatchNorm of scale ``sqrt(v + eps)`` and shift ``b + m`` computes the
    same as the folded bias ``b`` in eval mode, and in train mode normalises batches as the exported model would.
    """
    pairs = [(m, b) for m, b in _conv_bn_pairs(net)]
    stats: dict[int, tuple[Tensor, Tensor]] = {}
    hooks = []
    for i, (conv, _bn) in enumerate(pairs):

        def hook(_m: nn.Module, _inp: tuple[Tensor, ...], out: Tensor, i: int = i) -> None:
            stats[i] = (out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3), unbiased=False))

        hooks.append(conv.register_forward_hook(hook))
    was_training = net.training
    net.eval()
    try:
        net(images)
    finally:
        for h in hooks:
            h.remove()
    for i, (_conv, bn) in enumerate(pairs):
        mean, var = stats[i]
        assert bn.running_mean is not None and bn.running_var is not None
        shift = bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)  # the folded bias
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.weight.copy_(torch.sqrt(var + bn.eps))
        bn.bias.copy_(shift + mean)
    net.train(was_training)


def _conv_bn_pairs(net: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    modules = dict(net.named_modules())
    out = []
    for name, m in modules.items():
        if isinstance(m, nn.Conv2d) and m.bias is None:
            bn = modules.get(_sibling(name))
            if isinstance(bn, nn.BatchNorm2d):
                out.append((m, bn))
    return out
