"""The service's fixed words, each defined once: job models, resolutions, the speaking order of
`lipsync-image-multi` and a webhook attempt's result. They are StrEnums, so they are their own
JSON and Redis spelling and compare equal to it; the protos carry them as strings because the
public API does."""

from __future__ import annotations

from enum import StrEnum


class Model(StrEnum):
    VIDEO = "lipsync-video"
    IMAGE = "lipsync-image"
    IMAGE_MULTI = "lipsync-image-multi"


class Resolution(StrEnum):
    P480 = "480p"
    P720 = "720p"

    @property
    def height(self) -> int:
        return int(self.value.removesuffix("p"))


DEFAULT_RESOLUTION = Resolution.P480


class Order(StrEnum):
    """Who speaks when, in a two-person image."""

    MEANWHILE = "meanwhile"  # both at once
    LEFT_RIGHT = "left_right"
    RIGHT_LEFT = "right_left"


class AttemptResult(StrEnum):
    """How one webhook attempt ended."""

    DELIVERED = "delivered"  # a 2xx answer
    RETRY = "retry"  # another attempt follows
    REFUSED = "refused"  # the URL breaks the rules: never retried
    FAILED = "failed"  # the last attempt failed

