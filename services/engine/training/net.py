"""The mouth model: a small non-causal temporal conv net, log-mel (100 fps) -> mouth shapes
(25 fps).

    mel [B, T, 64] -> normalise (fixed per-band stats) -> conv k5 @100 fps
      -> conv k4 stride 2 -> conv k4 stride 2 (@25 fps)
      -> residual dilated convs (k3, dilation 1, 2, 1)
      -> shapes [B, T/4, 3] (sigmoid)   visemes [B, T/4, V] (logits)

Receptive field: about +-240 ms, enough to see a closure's silence and the release after it.
Only convolutions and batch norm (fixed at inference), so chunked inference with enough context
equals whole-sequence inference, and the ONNX export has no recurrent ops.
"""

from __future__ import annotations

import torch
from torch import nn

from services.engine.features import N_MELS
from services.engine.visemes import N_VISEMES

DOWNSAMPLE = 4  # mel frames per output frame


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1,
             padding: int | None = None) -> nn.Sequential:
    pad = dilation * (k - 1) // 2 if padding is None else padding
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, k, stride=stride, padding=pad, dilation=dilation, bias=False),
        nn.BatchNorm1d(c_out),
        nn.GELU(),
    )


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = _conv_bn(channels, channels, 3, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop(self.mix(self.conv(x)))


class MouthNet(nn.Module):
    mel_mean: torch.Tensor
    mel_std: torch.Tensor

    def __init__(self, channels: int = 160, n_visemes: int = N_VISEMES, dropout: float = 0.1,
                 dilations: tuple[int, ...] = (1, 2, 1)) -> None:
        super().__init__()
        # Per-band log-mel statistics of the training set, saved with the weights.
        self.register_buffer("mel_mean", torch.zeros(N_MELS))
        self.register_buffer("mel_std", torch.ones(N_MELS))
        self.front = nn.Sequential(
            _conv_bn(N_MELS, channels, 5),
            _conv_bn(channels, channels, 4, stride=2, padding=1),  # 100 -> 50 fps
            _conv_bn(channels, channels, 4, stride=2, padding=1),  # 50 -> 25 fps
        )
        self.body = nn.Sequential(*[_Residual(channels, d, dropout) for d in dilations])
        self.shapes = nn.Conv1d(channels, 3, 1)
        self.visemes = nn.Conv1d(channels, n_visemes, 1)

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """mel [B, T, 64] (T a multiple of 4) -> shapes [B, T/4, 3], viseme logits [B, T/4, V]."""
        x = ((mel - self.mel_mean) / self.mel_std).transpose(1, 2)
        x = self.body(self.front(x))
        shapes = torch.sigmoid(self.shapes(x)).transpose(1, 2)
        return shapes, self.visemes(x).transpose(1, 2)


def receptive_field(dilations: tuple[int, ...] = (1, 2, 1)) -> int:
    """Mel frames each side of an output frame's centre that can influence it."""
    # k5 conv: 2; two k4/s2 convs: 2 + 4 (in mel frames); each k3 block: 4 * dilation.
    return 2 + 2 + 4 + sum(4 * d for d in dilations)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
