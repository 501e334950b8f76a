"""The mouth model: a small temporal conv net, phonetic features (100 fps) -> mouth shapes
(25 fps).

    features [B, T, 45] (`phone_posteriors`: 42 phone log posteriors, energy and its deltas)
      -> normalise (fixed per-feature stats) -> delay by LOOKAHEAD_SHIFT -> conv k5 @100 fps
      -> conv k4 stride 2 -> conv k4 stride 2 (@25 fps)
      -> residual dilated convs (k3, dilation 1, 2, 1)
      -> shapes [B, T/4, 3] (sigmoid)   visemes [B, T/4, V] (logits)

Receptive field: 240 ms either side of the (delayed) input, so an output frame sees 320 ms of
the past and 160 ms of the future: enough to see a closure's silence and the release after it,
while the future it needs stays bounded (with the front end's 30 ms, under 200 ms) so the same
model can drive a live stream.
Only convolutions and batch norm (fixed at inference), so chunked inference with enough context
equals whole-sequence inference, and the ONNX export has no recurrent ops.

The shipped model is a `MouthEnsemble`: several MouthNets trained alike from different seeds,
their outputs averaged inside one network. Single runs of the same recipe differ on unseen
voices as much as recipes do (closure by up to 0.12 under a condition); on the validation voice
the average closes at least as many p/b/m as its members do on average under every condition.
The phonetic front end still runs once; only this small network runs once per member.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from services.engine.mouth.phone_posteriors import N_FEATURES
from services.engine.mouth.visemes import N_VISEMES

DOWNSAMPLE = 4  # feature frames per output frame
# Input frames the net is delayed by: a multiple of DOWNSAMPLE so output frames stay aligned.
LOOKAHEAD_SHIFT = 8


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
    feature_mean: torch.Tensor
    feature_std: torch.Tensor

    def __init__(self, channels: int = 160, n_visemes: int = N_VISEMES, dropout: float = 0.1,
                 dilations: tuple[int, ...] = (1, 2, 1)) -> None:
        super().__init__()
        # Per-feature statistics of the training set, saved with the weights.
        self.register_buffer("feature_mean", torch.zeros(N_FEATURES))
        self.register_buffer("feature_std", torch.ones(N_FEATURES))
        self.front = nn.Sequential(
            _conv_bn(N_FEATURES, channels, 5),
            _conv_bn(channels, channels, 4, stride=2, padding=1),  # 100 -> 50 fps
            _conv_bn(channels, channels, 4, stride=2, padding=1),  # 50 -> 25 fps
        )
        self.body = nn.Sequential(*[_Residual(channels, d, dropout) for d in dilations])
        self.shapes = nn.Conv1d(channels, 3, 1)
        self.visemes = nn.Conv1d(channels, n_visemes, 1)

    @property
    def n_visemes(self) -> int:
        return int(self.visemes.out_channels)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features [B, T, F] (T a multiple of 4) -> shapes [B, T/4, 3], viseme logits
        [B, T/4, V]."""
        x = ((features - self.feature_mean) / self.feature_std).transpose(1, 2)
        # Delay: output frame t is centred LOOKAHEAD_SHIFT input frames before its own time.
        # The first frame is repeated into the gap (a recording starts as it goes on).
        x = nn.functional.pad(x, (LOOKAHEAD_SHIFT, 0), mode="replicate")[:, :, : x.shape[2]]
        x = self.body(self.front(x))
        shapes = torch.sigmoid(self.shapes(x)).transpose(1, 2)
        return shapes, self.visemes(x).transpose(1, 2)


class MouthEnsemble(nn.Module):
    """The mean of several MouthNets: shapes averaged, viseme probabilities averaged (returned
    as their log, so callers still apply a softmax to logits). Same inputs and outputs as one
    MouthNet, so it exports to the same ONNX interface and Triton model."""

    def __init__(self, members: int = 4, channels: int = 160, n_visemes: int = N_VISEMES) -> None:
        super().__init__()
        self.members = nn.ModuleList(MouthNet(channels, n_visemes) for _ in range(members))
        self.n_visemes = n_visemes

    @classmethod
    def of(cls, nets: list[MouthNet]) -> MouthEnsemble:
        """The ensemble of networks already trained (their modules, not copies)."""
        ensemble = cls(members=0, n_visemes=nets[0].n_visemes)
        ensemble.members = nn.ModuleList(nets)
        return ensemble.eval()

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [member(features) for member in self.members]
        shapes = torch.stack([s for s, _ in outs]).mean(0)
        log_probs = torch.stack([torch.log_softmax(v, dim=-1) for _, v in outs])
        return shapes, torch.logsumexp(log_probs, dim=0) - math.log(len(outs))


def receptive_field(dilations: tuple[int, ...] = (1, 2, 1)) -> int:
    """Input frames each side of an output frame's (delayed) centre that can influence it."""
    # k5 conv: 2; two k4/s2 convs: 2 + 4 (in input frames); each k3 block: 4 * dilation.
    return 2 + 2 + 4 + sum(4 * d for d in dilations)


def lookahead_frames(dilations: tuple[int, ...] = (1, 2, 1)) -> int:
    """Future input frames (10 ms each) an output frame depends on, the front end excluded."""
    return receptive_field(dilations) - LOOKAHEAD_SHIFT


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
