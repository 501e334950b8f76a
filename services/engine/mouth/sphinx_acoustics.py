"""Pocketsphinx's bundled US-English acoustic model, read into numpy for phone posteriors.

The PyPI wheel `pocketsphinx` (BSD) ships a phonetically tied mixture (PTM) model trained on
real recorded speech: one codebook of 128 diagonal Gaussians per context-independent (CI) phone
and per feature stream (cepstra, deltas, double deltas; 13 dimensions each), and 8-bit mixture
weights for every senone. We use only its 42 CI phones and their 126 CI senones (3 HMM states
each): scored frame by frame, they give a phonetic posteriorgram that is much less speaker- and
synthesizer-specific than a spectrogram, with no search and so no lookahead of its own.

Only the file formats are read here (they are documented in the files' own headers); the
decoder itself is not used, which keeps the front end a pure function of 10 ms frames.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from services.engine.engine_errors import ModelError

STREAMS = 3  # cepstra, deltas, double deltas (feat.params: -svspec 0-12/13-25/26-38)
DIMS = 13
STATES = 3
# Mixture weights are stored as -log(w) in units of log base 1.0001 ** 1024 (pocketsphinx's
# 8-bit senone score scale), clipped at 255.
_LOG_WEIGHT_UNIT = 1024 * np.log(1.0001)


def model_dir() -> Path:
    """The `en-us` model folder inside the installed pocketsphinx package."""
    try:
        import pocketsphinx
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ModelError("the pocketsphinx package is not installed") from exc
    return Path(pocketsphinx.get_model_path()) / "en-us" / "en-us"


@dataclass(frozen=True)
class CiPhoneModel:
    """The CI part of the model: what phone posteriors need, nothing else."""

    phones: tuple[str, ...]  # 42 names, e.g. "M", "AA", "SIL", "+NSN+"
    means: np.ndarray  # [phones, streams, 128, 13] float32
    variances: np.ndarray  # [phones, streams, 128, 13] float32
    log_weights: np.ndarray  # [phones, states, streams, 128] float32 (natural log)

    def index(self, phone: str) -> int:
        return self.phones.index(phone)


def _read_s3_array(path: Path) -> np.ndarray:
    """A SphinxTrain "s3" Gaussian parameter file -> [mgau, feat, density, veclen] float32."""
    raw = path.read_bytes()
    end = raw.find(b"endhdr\n")
    if not raw.startswith(b"s3\n") or end < 0:
        raise ModelError(f"{path} is not a SphinxTrain parameter file")
    pos = end + len(b"endhdr\n")
    magic = struct.unpack_from("<I", raw, pos)[0]
    order = "<" if magic == 0x11223344 else ">"
    pos += 4
    n_mgau, n_feat, n_density = struct.unpack_from(order + "3i", raw, pos)
    pos += 12
    veclen = struct.unpack_from(order + f"{n_feat}i", raw, pos)
    pos += 4 * n_feat
    total = struct.unpack_from(order + "i", raw, pos)[0]
    pos += 4
    if len(set(veclen)) != 1 or total != n_mgau * n_density * sum(veclen):
        raise ModelError(f"{path}: unexpected stream layout {veclen}")
    data = np.frombuffer(raw, dtype=order + "f4", count=total, offset=pos)
    # Streams share one length here, so the flat layout is [mgau][feat][density][veclen].
    return data.reshape(n_mgau, n_feat, n_density, veclen[0]).astype(np.float32)


def _read_ci_phones(path: Path) -> tuple[tuple[str, ...], int]:
    """Names of the CI phones and the count of CI senones from a binary ("BMDF") mdef."""
    raw = path.read_bytes()
    if not raw.startswith(b"BMDF"):
        raise ModelError(f"{path} is not a binary model definition")
    marker = b"END FILE FORMAT DESCRIPTION\n"
    pos = raw.find(marker) + len(marker)
    pos = (pos + 3) // 4 * 4  # the header text is padded to a 4-byte boundary
    n_ciphone, _n_phone, n_emit, n_ci_sen = struct.unpack_from("<4i", raw, pos)
    if n_emit != STATES or n_ci_sen != n_ciphone * STATES:
        raise ModelError(f"{path}: expected {STATES}-state CI phones")
    pos += 4 * 10  # 9 counts and the size of the name block
    names = raw[pos:].split(b"\0", n_ciphone)[:n_ciphone]
    return tuple(n.decode("ascii") for n in names), n_ci_sen


def _read_ci_log_weights(path: Path, n_ci_sen: int) -> np.ndarray:
    """[ci senones, streams, 128] natural-log mixture weights from an uncompressed sendump."""
    raw = path.read_bytes()
    pos, cluster_count = 0, 0
    while True:  # length-prefixed header strings, ended by a zero length
        n = struct.unpack_from("<i", raw, pos)[0]
        pos += 4
        if n == 0:
            break
        line = raw[pos : pos + n].rstrip(b"\0").decode("ascii", "replace")
        if line.startswith("cluster_count "):
            cluster_count = int(line.split()[1])
        pos += n
    if cluster_count:
        raise ModelError(f"{path}: clustered (4-bit) mixture weights are not supported")
    n_density, n_sen = struct.unpack_from("<2i", raw, pos)
    pos += 8
    weights = np.frombuffer(raw, np.uint8, count=STREAMS * n_density * n_sen, offset=pos)
    weights = weights.reshape(STREAMS, n_density, n_sen)[:, :, :n_ci_sen]
    return (-weights.astype(np.float32) * _LOG_WEIGHT_UNIT).transpose(2, 0, 1)


@lru_cache(maxsize=1)
def load(folder: str | None = None) -> CiPhoneModel:
    """The CI phone model from `folder` (default: the one bundled with pocketsphinx)."""
    path = Path(folder) if folder else model_dir()
    phones, n_ci_sen = _read_ci_phones(path / "mdef")
    means = _read_s3_array(path / "means")
    variances = _read_s3_array(path / "variances")
    n = len(phones)
    if means.shape[:2] != (n, STREAMS) or variances.shape != means.shape:
        raise ModelError(f"{path}: expected one codebook per CI phone and {STREAMS} streams")
    # CI senones are numbered phone by phone, state by state; in a PTM model each uses its
    # phone's codebook.
    log_w = _read_ci_log_weights(path / "sendump", n_ci_sen).reshape(n, STATES, STREAMS, -1)
    return CiPhoneModel(phones, means, np.maximum(variances, 1e-4), log_w)
