"""Errors the engine raises. Every one carries a message a person can act on.

EngineError
 +-- InputError            the caller's input is unusable (the job fails, no retry helps)
 |    +-- MediaError       not decodable as the expected kind of media
 |    +-- MediaTooLarge    decodes, but beyond a limit (duration, dimensions, sample rate)
 |    +-- NoFaceError      no face where one is needed
 |    +-- FaceTooSmall     a face, but too small to animate
 |    +-- SilentAudio      the audio holds no sound at all
 +-- ModelError            a model file is missing or fails to run (an operator problem)
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of all engine errors."""


class InputError(EngineError):
    """The input cannot be rendered; retrying will not help."""


class MediaError(InputError):
    """A file is not the media it should be, or is corrupt."""


class MediaTooLarge(InputError):
    """A file decodes but exceeds a limit."""


class NoFaceError(InputError):
    """No face was found where one is needed."""


class FaceTooSmall(InputError):
    """A face was found but is too small to animate."""


class SilentAudio(InputError):
    """The audio holds no sound."""


class ModelError(EngineError):
    """A model file is missing or failed to run."""
