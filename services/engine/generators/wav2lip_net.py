"""A Wav2Lip-class generator (Prajwal et al., "A Lip Sync Expert Is All You Need", 2020), written
from the paper's description, and a loader for an operator's checkpoint of it.

    face [B, 6, 96, 96]  (lower-half-masked target face ++ reference face, in [0, 1])
      -> face encoder: Conv-BN-ReLU blocks with residual blocks, 96 -> 48 -> ... -> 3 -> 1,
         channels 16 -> 32 -> 64 -> 128 -> 256 -> 512 -> 512 (each block's output kept)
    mel [B, 1, 80, 16]   (80 mel bands x 16 frames = 200 ms)
      -> audio encoder: the same blocks, strides shrinking 80x16 to 1x1, 512 channels
    decoder: from the audio embedding, transposed convs 1 -> 3 -> 6 -> ... -> 96, each output
      concatenated with the face encoder's output of the same size (skip connections)
      -> conv -> 1x1 conv -> sigmoid: frames [B, 3, 96, 96]

Module names follow the published implementation's (`face_encoder_blocks`, `audio_encoder`,
`face_decoder_blocks`, `output_block`, blocks holding `conv_block` = conv + batch norm), so a
checkpoint trained with it loads key for key.

Torch is needed only here and in export; the service runs the exported ONNX file. Nothing here
ships or downloads weights: the tests use random initialisation, whose output is noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from services.engine.generators.backend import FACE_CHANNELS


class ConvBlock(nn.Module):
    """Conv -> batch norm -> ReLU; `residual` adds the input before the ReLU (same shape)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int | tuple[int, int],
                 padding: int, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding),
                                        nn.BatchNorm2d(c_out))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


class UpBlock(nn.Module):
    """Transposed conv -> batch norm -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int,
                 output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, output_padding),
            nn.BatchNorm2d(c_out))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _down(c_in: int, c_out: int, residuals: int, stride: int | tuple[int, int] = 2) -> list[nn.Module]:
    """A strided 3x3 block, then `residuals` residual 3x3 blocks at the new size."""
    return [ConvBlock(c_in, c_out, 3, stride, 1),
            *(ConvBlock(c_out, c_out, 3, 1, 1, residual=True) for _ in range(residuals))]


def _up(c_in: int, c_out: int, residuals: int) -> nn.Sequential:
    """Doubles the size (3x3 transposed, stride 2), then residual blocks."""
    return nn.Sequential(UpBlock(c_in, c_out, 3, 2, 1, output_padding=1),
                         *(ConvBlock(c_out, c_out, 3, 1, 1, residual=True) for _ in range(residuals)))


class Wav2LipGenerator(nn.Module):
    """face [B, 6, 96, 96], mel [B, 1, 80, 16] -> frames [B, 3, 96, 96] in (0, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBlock(FACE_CHANNELS, 16, 7, 1, 3)),  # 96
            nn.Sequential(*_down(16, 32, 2)),  # 48
            nn.Sequential(*_down(32, 64, 3)),  # 24
            nn.Sequential(*_down(64, 128, 2)),  # 12
            nn.Sequential(*_down(128, 256, 2)),  # 6
            nn.Sequential(*_down(256, 512, 1)),  # 3
            nn.Sequential(ConvBlock(512, 512, 3, 1, 0), ConvBlock(512, 512, 1, 1, 0)),  # 1
        ])
        # 80x16 -> 80x16 -> 27x16 -> 9x6 -> 3x3 -> 1x1
        self.audio_encoder = nn.Sequential(
            ConvBlock(1, 32, 3, 1, 1), ConvBlock(32, 32, 3, 1, 1, residual=True),
            ConvBlock(32, 32, 3, 1, 1, residual=True),
            *_down(32, 64, 2, stride=(3, 1)),
            *_down(64, 128, 2, stride=3),
            *_down(128, 256, 1, stride=(3, 2)),
            ConvBlock(256, 512, 3, 1, 0), ConvBlock(512, 512, 1, 1, 0),
        )
        # Each stage's input is the previous output ++ the face features of its size.
        self.face_decoder_blocks = nn.ModuleList([
            nn.Sequential(ConvBlock(512, 512, 1, 1, 0)),  # 1
            nn.Sequential(UpBlock(1024, 512, 3, 1, 0),
                          ConvBlock(512, 512, 3, 1, 1, residual=True)),  # 3
            _up(1024, 512, 2),  # 6
            _up(768, 384, 2),  # 12
            _up(512, 256, 2),  # 24
            _up(320, 128, 2),  # 48
            _up(160, 64, 2),  # 96
        ])
        self.output_block = nn.Sequential(ConvBlock(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0),
                                          nn.Sigmoid())

    def forward(self, face: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        skips = []
        x = face
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(mel)
        for block in self.face_decoder_blocks:
            x = torch.cat([block(x), skips.pop()], dim=1)
        out: torch.Tensor = self.output_block(x)
        return out


class CheckpointMismatch(ValueError):
    """A checkpoint whose keys or shapes do not fit the network; the message lists them."""


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def state_dict_of(checkpoint: object) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint: a state dict, or one under "state_dict", with any
    "module." prefix (left by DataParallel training) removed."""
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        raise CheckpointMismatch(f"expected a state dict, got {type(checkpoint).__name__}")
    tensors = {str(k): v for k, v in checkpoint.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointMismatch("the checkpoint holds no tensors")
    return {k.removeprefix("module."): v for k, v in tensors.items()}


def load_state(model: Wav2LipGenerator, state: Mapping[str, torch.Tensor]) -> Wav2LipGenerator:
    """Put `state` into `model`, or raise `CheckpointMismatch` listing every missing,
    unexpected and wrongly shaped key (torch stops at the first shape error)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        parts = [f"{label} ({len(keys)}): {_listing(keys)}" for label, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected),
                  ("wrong shapes", shapes)) if keys]
        raise CheckpointMismatch("the checkpoint does not fit the Wav2Lip generator (96x96); "
                                 + "; ".join(parts))
    model.load_state_dict(state, strict=True)
    return model


def load_checkpoint(path: str | Path) -> Wav2LipGenerator:
    """A generator in eval mode with the weights of the checkpoint at `path`.

    Only tensors are unpickled (`weights_only=True`): a checkpoint is data, not code.
    """
    try:
        checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # torch raises pickle and zip errors of many kinds
        raise CheckpointMismatch(
            f"{path}: not a torch checkpoint, or one holding objects other than tensors "
            f"({type(exc).__name__}). For the latter, re-save just its tensors where you trust "
            "it: torch.save(checkpoint['state_dict'], 'plain.pth')") from exc
    return load_state(Wav2LipGenerator(), state_dict_of(checkpoint)).eval()


def random_generator(seed: int = 0) -> Wav2LipGenerator:
    """Randomly initialised weights, in eval mode: for tests of shapes and plumbing only.

    Its output is noise. Batch-norm statistics are drawn too, so eval mode exercises them.
    """
    torch.manual_seed(seed)
    model = Wav2LipGenerator()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                assert module.running_mean is not None and module.running_var is not None
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()
