"""Phonetic features of speech: per-10 ms phone posteriors from an acoustic model of real speech.

Why: a mouth model trained on synthetic speech learns that synthesizer's spectra and, on real
voices, shuts the lips on p/b/m no better than chance. Phone posteriors from pocketsphinx's
acoustic model (trained on real recordings of many speakers) describe *which sound* is being
made and little of *whose voice* makes it, so the mouth model built on top of them carries over
from synthetic training speech to real speech (the usual speaker-independent input of
audio-driven animation, "phonetic posteriorgrams").

    audio 16 kHz -> Sphinx MFCC (the model's own front end: 25 mel filters 130-6800 Hz,
    DCT-II, lifter 22), once per filterbank warp of `speaker_warp.WARPS` -> cepstral mean
    normalisation over the past 3 s -> deltas -> per frame, the warp `speaker_warp` chose
    for this speaker so far -> CI senone log-likelihoods (42 phones x 3 states, PTM Gaussian
    mixtures) -> log posteriors per phone (softmax over senones) + normalised energy

Lookahead: the deltas need 3 frames (30 ms) of future audio; nothing else looks ahead.
Frame i describes the 25.6 ms window centred at i * 10 ms, like `features.log_mel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_limits

from services.engine.media.features import HOP, SAMPLE_RATE
from services.engine.mouth import speaker_warp, sphinx_acoustics

# The model's front end (its feat.params and pocketsphinx's defaults).
FRAME = 410  # 25.625 ms
N_FFT = 512
N_FILTERS = 25
LOWER_HZ, UPPER_HZ = 130.0, 6800.0
LIFTER = 22
PRE_EMPHASIS = 0.97
_SPEC_FLOOR = 1e-4  # added before the log, as pocketsphinx does
_INT16 = 32768.0  # the model saw 16-bit samples

CMN_PAST = 300  # frames (3 s) in the running cepstral mean
# Prior for the running mean at the start of a recording: weighs as this many frames of a
# typical utterance's mean (measured on speech, see `CMN_PRIOR`).
CMN_PRIOR_FRAMES = 100
LOOKAHEAD_FRAMES = 3  # what the delta features need
ACOUSTIC_SCALE = 0.1  # senone log-likelihoods are scaled before the softmax, as decoders do
LOG_POSTERIOR_FLOOR = -12.0

N_PHONES = 42
N_FEATURES = N_PHONES + 3  # log posteriors, then energy and its two deltas


def _mel(hz: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def _mel_inverse(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


@lru_cache(maxsize=len(speaker_warp.WARPS) + 1)
def filterbank(warp: float = 1.0) -> np.ndarray:
    """[N_FFT // 2 + 1, N_FILTERS]: unit-area triangles with edges on DFT points; `warp`
    stretches their frequencies (VTLN, see `speaker_warp`), up to just below Nyquist."""
    step = SAMPLE_RATE / N_FFT
    lo, hi = _mel(np.array(LOWER_HZ)), _mel(np.array(UPPER_HZ))
    width = (hi - lo) / (N_FILTERS + 1)
    bank = np.zeros((N_FFT // 2 + 1, N_FILTERS), np.float64)
    freqs = np.arange(N_FFT // 2 + 1) * step
    top = SAMPLE_RATE / 2 - step
    for i in range(N_FILTERS):
        left, centre, right = (
            np.floor(min(float(_mel_inverse(lo + (i + j) * width)) * warp, top) / step + 0.5) * step
            for j in range(3))
        rising = (freqs - left) / (centre - left)
        falling = (right - freqs) / (right - centre)
        tri = np.minimum(rising, falling) * 2.0 / (right - left)
        inside = (freqs >= left) & (freqs <= right)
        bank[inside, i] = np.maximum(tri[inside], 0.0)
    return bank.astype(np.float32)


@lru_cache(maxsize=1)
def _dct_lifter() -> np.ndarray:
    """[N_FILTERS, 13]: orthonormal DCT-II rows, each scaled by the sinusoidal lifter."""
    j = np.arange(N_FILTERS) + 0.5
    basis = np.stack([np.cos(np.pi * i * j / N_FILTERS) for i in range(sphinx_acoustics.DIMS)])
    basis *= np.sqrt(2.0 / N_FILTERS)
    basis[0] *= np.sqrt(0.5)
    lifter = 1.0 + LIFTER / 2.0 * np.sin(np.pi * np.arange(sphinx_acoustics.DIMS) / LIFTER)
    return (basis * lifter[:, None]).T.astype(np.float32)


@lru_cache(maxsize=1)
def _hamming() -> np.ndarray:
    return (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(FRAME) / (FRAME - 1))).astype(np.float32)


def n_frames(n_samples: int) -> int:
    return n_samples // HOP + 1


def power_spectra(audio16k: np.ndarray) -> np.ndarray:
    """[T, N_FFT // 2 + 1] power of the pre-emphasised, windowed frames; T = len // 160 + 1,
    frame i centred at sample i * 160."""
    x = np.asarray(audio16k, np.float32).reshape(-1) * _INT16
    x = np.concatenate([x[:1], x[1:] - PRE_EMPHASIS * x[:-1]]) if len(x) else x
    pad = FRAME // 2
    xp = np.ascontiguousarray(np.pad(x, (pad, FRAME - pad)))
    n = n_frames(len(x))
    stride = xp.strides[0]
    frames = as_strided(xp, shape=(n, FRAME), strides=(HOP * stride, stride), writeable=False)
    spec = np.fft.rfft(frames * _hamming(), n=N_FFT, axis=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


@lru_cache(maxsize=1)
def _warped_filterbanks() -> np.ndarray:
    """[N_FFT // 2 + 1, len(WARPS) * N_FILTERS]: every warp's filterbank side by side."""
    return np.concatenate([filterbank(w) for w in speaker_warp.WARPS], axis=1)


def warped_cepstra(audio16k: np.ndarray) -> np.ndarray:
    """[len(WARPS), T, 13] Sphinx MFCC under every warp of `speaker_warp.WARPS` (one matrix
    product for all the filterbanks); T = len // 160 + 1, frame i centred at sample i * 160."""
    power = power_spectra(audio16k)
    bands = np.log(power @ _warped_filterbanks() + _SPEC_FLOOR)
    bands = bands.reshape(len(power), len(speaker_warp.WARPS), N_FILTERS).transpose(1, 0, 2)
    return (bands @ _dct_lifter()).astype(np.float32)


# Mean cepstrum of training speech with its pauses (espeak-ng and festival training voices,
# peaks at -20 to -6 dBFS): where the running mean starts before a recording has its own.
CMN_PRIOR = np.array([19.5, 7.0, 0.0, 13.7, -6.5, 2.0, -1.9, -4.8, -1.5, -6.5, 2.2, -2.1, -1.7],
                     np.float32)


def normalize(cep: np.ndarray) -> np.ndarray:
    """Subtract a running mean of the past `CMN_PAST` frames (and the current one), started
    from `CMN_PRIOR`: channel and level drop out, and no future frame is used.
    [..., T, 13] -> the same shape (one sequence per leading index)."""
    zero = np.zeros((*cep.shape[:-2], 1, cep.shape[-1]), np.float64)
    csum = np.concatenate([zero, np.cumsum(cep, axis=-2)], axis=-2)
    t = np.arange(cep.shape[-2])
    lo = np.maximum(t + 1 - CMN_PAST, 0)
    count = (t + 1 - lo)[:, None]
    prior_w = np.maximum(CMN_PRIOR_FRAMES - count, 0)  # fades out as real frames arrive
    mean = (csum[..., t + 1, :] - csum[..., lo, :] + prior_w * CMN_PRIOR) / (count + prior_w)
    return (cep - mean).astype(np.float32)


def deltas(c: np.ndarray) -> np.ndarray:
    """[..., T, 13] -> [..., T, 39]: c, d = c[t+2] - c[t-2], dd = d[t+1] - d[t-1] (edges
    repeated)."""
    p = np.pad(c, [(0, 0)] * (c.ndim - 2) + [(3, 3), (0, 0)], mode="edge")
    d = p[..., 4:, :] - p[..., :-4, :]  # index k <-> frame k - 1
    dd = d[..., 2:, :] - d[..., :-2, :]
    return np.concatenate([c, d[..., 1:-1, :], dd], axis=-1).astype(np.float32)


def senone_log_likelihoods(feat: np.ndarray, chunk: int = 500) -> np.ndarray:
    """[T, 42, 3] log-likelihood of every CI senone for [T, 39] features."""
    g = _gaussians()
    n_phones, n_dens = g.weights.shape[0], g.weights.shape[2]
    dims = sphinx_acoustics.DIMS
    out = np.empty((len(feat), n_phones, sphinx_acoustics.STATES), np.float32)
    for s0 in range(0, len(feat), chunk):
        f = feat[s0 : s0 + chunk]
        total = np.zeros((n_phones, len(f), sphinx_acoustics.STATES), np.float32)
        for s in range(sphinx_acoustics.STREAMS):
            x = f[:, s * dims : (s + 1) * dims]
            # log N(x; mu, var) = [x^2, x, 1] . [a, b, c]: one matrix product per stream.
            terms = np.concatenate([x * x, x, np.ones((len(f), 1), np.float32)], axis=1)
            ll = (terms @ g.coefficients[s]).reshape(len(f), n_phones, n_dens)
            top = ll.max(axis=2, keepdims=True)
            np.subtract(ll, top, out=ll)
            np.exp(ll, out=ll)
            # Each state's mixture is a weighted sum over its phone's codebook: a matmul.
            mix = ll.transpose(1, 0, 2) @ g.weights[:, s]  # [P, t, 3]
            total += np.log(mix + 1e-30) + top.transpose(1, 0, 2)
        out[s0 : s0 + len(f)] = total.transpose(1, 0, 2)
    return out


@dataclass(frozen=True)
class _Gaussians:
    coefficients: np.ndarray  # [streams, 27, P * D]: rows for x^2 (-1 / 2 var), x (mean / var), 1
    weights: np.ndarray  # [P, streams, D, 3] mixture weights of the phone's 3 states


@lru_cache(maxsize=1)
def _gaussians() -> _Gaussians:
    m = sphinx_acoustics.load()
    n_streams, dims = m.means.shape[1], m.means.shape[3]
    inv_var = 1.0 / m.variances.astype(np.float64)
    a = (-0.5 * inv_var).transpose(1, 3, 0, 2).reshape(n_streams, dims, -1)
    b = (m.means * inv_var).transpose(1, 3, 0, 2).reshape(n_streams, dims, -1)
    c = -0.5 * ((m.means**2 * inv_var).sum(-1) + np.log(2 * np.pi * m.variances).sum(-1))
    c = c.transpose(1, 0, 2).reshape(n_streams, 1, -1)
    weights = np.exp(m.log_weights).transpose(0, 2, 3, 1)  # [P, S, D, 3]
    return _Gaussians(np.concatenate([a, b, c], axis=1).astype(np.float32),
                      np.ascontiguousarray(weights, np.float32))


def phonetic_features(audio16k: np.ndarray) -> np.ndarray:
    """[T, N_FEATURES] float32: per-phone log posteriors (floored), then c0, d0, dd0 / 10."""
    # The matrix products are small: BLAS threads cost more than they give, and fight the
    # render's own threads for the cores (measured: 2x slower with two threads on 2 cores).
    with threadpool_limits(limits=1, user_api="blas"):
        feats = deltas(normalize(warped_cepstra(audio16k)))
        choice = speaker_warp.WarpTracker().advance(0, feats, frame_log_likelihoods)
        return posteriors(feats[choice, np.arange(feats.shape[1])])


def frame_log_likelihoods(feat: np.ndarray) -> np.ndarray:
    """[T] log-likelihood of each frame of [T, 39] features under the acoustic model (summed
    over its senones): what `speaker_warp` compares warps by."""
    if not len(feat):
        return np.zeros(0, np.float32)
    sen = senone_log_likelihoods(feat).reshape(len(feat), -1)
    top = sen.max(axis=1)
    return (top + np.log(np.exp(sen - top[:, None]).sum(axis=1))).astype(np.float32)


def posteriors(feat: np.ndarray) -> np.ndarray:
    """[T, 39] normalised cepstra with deltas -> [T, N_FEATURES] (see `phonetic_features`).
    Frame by frame, so a live stream runs it on each new stretch of frames alone. The caller
    limits BLAS threads (a `threadpool_limits` per call costs more than 40 ms of features)."""
    sen = senone_log_likelihoods(feat).reshape(len(feat), -1) * ACOUSTIC_SCALE
    sen -= sen.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(sen).sum(axis=1, keepdims=True))
    per_phone = np.log(np.exp(sen - log_norm).reshape(len(feat), N_PHONES, -1).sum(-1) + 1e-12)
    post = np.maximum(per_phone, LOG_POSTERIOR_FLOOR)
    energy = feat[:, [0, 13, 26]] / 10.0
    return np.concatenate([post, energy], axis=1).astype(np.float32)
