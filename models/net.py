"""The detector network: a small anchor-free CenterNet-style model in plain PyTorch (needs the ``train`` extra).

Backbone of plain 3x3 conv-BN-ReLU stages down to stride 32, a light top-down FPN back to stride 4,
and per-cell heads: class heatmaps (sigmoid) and box edge distances (left, top, right, bottom).
The exported graph ends in the YOLOv8 layout ``[1, 4 + nc, N]`` (cx, cy, w, h in input pixels,
then per-class scores after 3x3 peak suppression), so the edge decodes it with the same code as a
YOLOv8/11 export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

STRIDE = 4


def _cbr(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class CenterNetLite(nn.Module):
    """Anchor-free detector; ``forward`` returns raw heatmap logits and raw box-distance logits."""

    def __init__(self, num_classes: int, width: int = 1) -> None:
        super().__init__()
        c = [16 * width, 32 * width, 48 * width, 96 * width, 128 * width]
        self.num_classes = num_classes
        self.stem = nn.Sequential(_cbr(3, c[0], 2), _cbr(c[0], c[1], 2), _cbr(c[1], c[1]))  # stride 4
        self.s8 = nn.Sequential(_cbr(c[1], c[2], 2), _cbr(c[2], c[2]))
        self.s16 = nn.Sequential(_cbr(c[2], c[3], 2), _cbr(c[3], c[3]), _cbr(c[3], c[3]))
        self.s32 = nn.Sequential(_cbr(c[3], c[4], 2), _cbr(c[4], c[4]))
        f = 48
        self.lat32, self.lat16 = nn.Conv2d(c[4], f, 1), nn.Conv2d(c[3], f, 1)
        self.lat8, self.lat4 = nn.Conv2d(c[2], f, 1), nn.Conv2d(c[1], f, 1)
        self.smooth = _cbr(f, f)
        self.head_cls = nn.Sequential(_cbr(f, f), nn.Conv2d(f, num_classes, 1))
        self.head_box = nn.Sequential(_cbr(f, f), nn.Conv2d(f, 4, 1))
        nn.init.constant_(self.head_cls[-1].bias, -2.19)  # prior 0.1, as CenterNet

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Input: RGB in 0..1, NCHW. Output: heat logits [N, nc, H/4, W/4], box logits [N, 4, H/4, W/4]."""
        x4 = self.stem(x)
        x8 = self.s8(x4)
        x16 = self.s16(x8)
        x32 = self.s32(x16)
        p = self.lat32(x32)
        p = F.interpolate(p, size=x16.shape[-2:], mode="nearest") + self.lat16(x16)
        p = F.interpolate(p, size=x8.shape[-2:], mode="nearest") + self.lat8(x8)
        p = F.interpolate(p, size=x4.shape[-2:], mode="nearest") + self.lat4(x4)
        p = self.smooth(p)
        return self.head_cls(p), self.head_box(p)


def decode_ltrb(box_logits: Tensor) -> Tensor:
    """Box logits -> distances from the cell centre in input pixels (left, top, right, bottom)."""
    return F.softplus(box_logits) * 8.0


def cell_centres(h: int, w: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Pixel centres of the stride-4 grid cells, as [h, w] x and y tensors."""
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * STRIDE
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * STRIDE
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return gx, gy


class ExportHead(nn.Module):
    """Wrap the network to emit the YOLOv8 layout ``[1, 4 + nc, N]`` for ONNX export."""

    def __init__(self, net: CenterNetLite) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        """Return boxes (cx, cy, w, h in input pixels) and peak-suppressed class scores per cell."""
        heat, box = self.net(x)
        scores = torch.sigmoid(heat)
        peaks = F.max_pool2d(scores, 3, stride=1, padding=1)
        scores = scores * (scores >= peaks).to(scores.dtype)
        n, _, h, w = scores.shape
        gx, gy = cell_centres(h, w, x.device)
        d = decode_ltrb(box)
        x1, y1 = gx - d[:, 0], gy - d[:, 1]
        x2, y2 = gx + d[:, 2], gy + d[:, 3]
        boxes = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=1)
        return torch.cat([boxes, scores], dim=1).reshape(n, 4 + self.net.num_classes, h * w)


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)
