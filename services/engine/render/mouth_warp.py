"""The mouth as a backward warp: where each output pixel of the lower face comes from.

Work happens in a mouth-local frame: origin between the mouth corners, `s` along the corners,
`t` towards the chin, both in units of half the mouth width. The source image's own inner-lip
curves give its current lip gap; the target gap comes from the mouth shape.

One smooth displacement field moves the lower face: the upper lip rises a little (keeping its
thickness; the skin up to the nose takes the stretch), the lower lip drops with its full
thickness, the chin and jaw follow by a share of that, and everything fades smoothly to zero
at the face's outline and down the neck, so nothing outside the face and neck moves and no
rigid piece draws an edge. The only break in the field is the lip line itself, where the
interior is painted. Closing a source mouth that is open (a photo's smile, a video's speech)
uses the same field, the two lips meeting halfway.

Amplitude: `open` = 1 parts the inner lips by MAX_GAP half mouth widths (0.30 mouth widths)
at the middle. Lip aperture in conversational speech runs from 0 (p/b/m) to roughly 10-15 mm
for open vowels such as "a", on mouths 45-55 mm wide, i.e. about 0.2-0.3 mouth widths: the
order of magnitude articulatory studies of connected speech report (lip-aperture traces such as
the Wisconsin X-ray Microbeam database's); these are approximate literature figures, not
measured here. Yawning or shouting, not modelled, go past 0.5. Measuring the gap in the face's
own mouth width keeps the range right for any face size. (The face mesh reads these renders'
widest openings as about 0.2 mouth widths: it takes part of the upper teeth for lip.)
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from services.engine.faces import face_landmarks as fl
from services.engine.faces.local_axes import LocalAxes

# Largest lip gap at the middle, in half mouth widths (see the module docstring).
MAX_GAP = 0.6
# Share of a gap change taken by the upper lip; the lower lip takes the rest.
UPPER_SHARE = 0.2
# Share of closing the source's own lip gap taken by the upper lip.
CLOSE_SHARE = 0.5
# Share of the lower lip's drop that the chin (the jaw) takes: the lower lip also moves on the jaw.
JAW_SHARE = 0.6
WIDTH_REST = 0.2  # the width of a mouth at rest (visemes.CLASS_SHAPES[SILENCE])
# The neck under the chin takes the jaw's motion over this length (half mouth widths), so it
# stretches or squeezes by a few percent instead of drawing an edge.
NECK_FALLOFF = 1.8
# Most of the dark rim of an open source mouth skipped when closing it (half mouth widths).
RIM = 0.1
READ_RIM = 0.03  # ... of one whose lips' edges were read on the picture (`lip_edges`)
# Extra closing of a speaking source's measured lip gap (dubbing), as a share of it.
OVERCLOSE = 0.35
# How far past the outer corners (half mouth widths) an open source mouth's corners close.
CORNER_REACH = 1.08
# The opening's half-length along the lips that the fine grid covers (beyond the corners).
LIPS_REACH = 1.3
# Reading the lips' edges from the image (`lip_edges`): columns across the mouth, the step down
# each (pixels), the gap (half mouth widths) a run inside the mouth may bridge, and what is
# unlike the lips: darker by DARKER L*, or less red (a*) by half the lips' redness over the
# skin (at least MIN_LESS_RED). The mesh's lines move by at most MAX_SHIFT, and only a source
# opening of MIN_READ_GAP or more is read (lips that touch have only a line between them).
EDGE_COLUMNS = 45
EDGE_STEP_PX = 0.5
BRIDGE = 0.08
DARKER = 20.0
MIN_LESS_RED = 4.0
MAX_SHIFT = 0.12
MAX_RAISE = 0.03  # ... and the lower line up by at most this
MIN_READ_GAP = 0.12
# ... or of MIN_TEETH_READ_GAP where teeth show between the lips across TEETH_COLUMNS columns at
# least: the mesh reads a smile's teeth down to the lower lip as a slit, and closed from there
# the teeth rode down with the lower lip as a pale band between the closed lips.
MIN_TEETH_READ_GAP = 0.04
TEETH_COLUMNS = 5
TEETH_LIGHTER = 5.0  # teeth are lighter (L*) than the lips by this at least ...
TEETH_RED_SHARE = 0.6  # ... and at most this share of the skin's redness (a*)
EDGE_BLUR_PX = 1.0  # a read lip's blurred edge, skipped when closing (pixels)
# The dark line between lips that touch (`lip_crease`): read on CREASE_COLUMNS columns, down to
# where the lower lip is back within half the line's depth of its own lightness, at most
# MAX_CREASE below the mesh's lower inner lip.
CREASE_COLUMNS = 9
MAX_CREASE = 0.1
SKIN_POINTS = (50, 280, 205, 425, 36, 266)  # cheeks, beside the nose


@dataclass(frozen=True)
class MouthShapeFrame:
    """One frame's mouth: open, width, round in [0, 1] (the mouth model's outputs)."""

    open: float
    width: float
    round: float


@dataclass
class MouthFrame:
    """The mouth-local frame of one face in one image, and its source lip curves."""

    center: np.ndarray  # (2,) pixels
    axis_s: np.ndarray  # (2,) unit, towards the image-right mouth corner
    axis_t: np.ndarray  # (2,) unit, towards the chin
    half_width: float  # pixels
    upper_s: np.ndarray  # source upper inner lip: s samples (sorted), and t
    upper_t: np.ndarray
    lower_s: np.ndarray
    lower_t: np.ndarray
    outer_upper_s: np.ndarray  # source outer lip contour, upper and lower
    outer_upper_t: np.ndarray
    outer_lower_s: np.ndarray
    outer_lower_t: np.ndarray
    nose_t: float
    chin_t: float
    jaw_t: np.ndarray  # face-oval levels below the nose (sorted) and the jaw half-width there
    jaw_half: np.ndarray
    outline: np.ndarray  # (n, 2) face oval in pixels (the region that may move, with the neck)
    edges_read: bool = False  # the inner lips lie on the lips' visible edges (`lip_edges`)
    crease: float = 0.0  # how far the dark line between touching lips reaches below the lower one

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray, image: np.ndarray | None = None) -> MouthFrame:
        """The mouth of `landmarks`; with the `image` they were found on, the inner lips are
        put on the lips' visible edges (`lip_edges`), not where the face mesh guessed them."""
        pts = landmarks[:, :2].astype(np.float64)
        axes = LocalAxes.between(pts[fl.MOUTH_RIGHT], pts[fl.MOUTH_LEFT])
        upper_s, upper_t = _to_corners(*axes.curve(pts, fl.INNER_LIP_UPPER))
        lower_s, lower_t = _to_corners(*axes.curve(pts, fl.INNER_LIP_LOWER))
        # The lower inner lip never lies above the upper one.
        lower_t = np.maximum(lower_t, np.interp(lower_s, upper_s, upper_t))
        ou_s, ou_t = axes.curve(pts, fl.OUTER_LIP_UPPER)
        ol_s, ol_t = axes.curve(pts, fl.OUTER_LIP_LOWER)
        ou_t = np.minimum(ou_t, np.interp(ou_s, upper_s, upper_t))
        ol_t = np.maximum(ol_t, np.interp(ol_s, lower_s, lower_t))
        _, (nose_t,) = axes.curve(pts, (fl.NOSE_TIP,))
        _, (chin_t,) = axes.curve(pts, (fl.CHIN,))
        oval_s, oval_t = axes.curve(pts, fl.FACE_OVAL)
        below = oval_t > nose_t
        jaw_t, jaw_half = _jaw_profile(oval_s[below], oval_t[below])
        frame = cls(axes.center, axes.axis_s, axes.axis_t, axes.half, upper_s, upper_t, lower_s, lower_t,
                    ou_s, ou_t, ol_s, ol_t, float(nose_t), float(max(chin_t, 1.0)), jaw_t, jaw_half,
                    pts[list(fl.FACE_OVAL)])
        if image is not None:
            read = lip_edges(frame, image, landmarks)
            if read is not None:
                frame.upper_s, frame.upper_t, frame.lower_s, frame.lower_t = read
                frame.edges_read = True
            else:
                frame.crease = lip_crease(frame, image)
        return frame

    def source_gap(self) -> float:
        """The source lip gap at the mouth's middle, in half mouth widths."""
        return float(np.interp(0.0, self.lower_s, self.lower_t)
                     - np.interp(0.0, self.upper_s, self.upper_t))

    def upper_rest(self) -> float:
        """The source upper inner lip at the middle (where the upper teeth hang from)."""
        return float(np.interp(0.0, self.upper_s, self.upper_t))

    def to_local(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = xs - self.center[0], ys - self.center[1]
        s = (dx * self.axis_s[0] + dy * self.axis_s[1]) / self.half_width
        t = (dx * self.axis_t[0] + dy * self.axis_t[1]) / self.half_width
        return s, t

    def to_image(self, s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = self.half_width
        sx, sy = np.float32(h * self.axis_s[0]), np.float32(h * self.axis_s[1])
        tx, ty = np.float32(h * self.axis_t[0]), np.float32(h * self.axis_t[1])
        xs = s * sx + t * tx + np.float32(self.center[0])
        ys = s * sy + t * ty + np.float32(self.center[1])
        return xs, ys

    def sample(self, image: np.ndarray, s: np.ndarray, t: np.ndarray,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
        """`image`'s pixels at the mouth-local points (s, t) (broadcast together), reflected at
        its borders: shape (*points, channels)."""
        ss, tt = np.broadcast_arrays(s, t)
        xs, ys = self.to_image(ss, tt)
        grid = xs.shape if xs.ndim == 2 else (1, -1)
        seen = cv2.remap(image, xs.reshape(grid).astype(np.float32), ys.reshape(grid).astype(np.float32),
                         interpolation, borderMode=cv2.BORDER_REFLECT)
        return seen.reshape(*ss.shape, -1)

    def neck_bottom(self) -> float:
        return self.chin_t + 0.3 + NECK_FALLOFF

    def region_polygons(self) -> list[np.ndarray]:
        """Pixel polygons of what may move: the face oval and the neck below the chin."""
        # Under the whole lower jaw: the jaw's outline moves down over what lies beneath it.
        jaw_half = float(np.interp(0.5, self.jaw_t, self.jaw_half))
        top = 0.5
        s = np.array([-jaw_half, jaw_half, 0.8 * jaw_half, -0.8 * jaw_half])
        t = np.array([top, top, self.neck_bottom() + 0.5, self.neck_bottom() + 0.5])
        xs, ys = self.to_image(s, t)
        return [self.outline.astype(np.float32), np.stack([xs, ys], axis=1)]

    def _box(self, s: np.ndarray, t: np.ndarray, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
        xs, ys = self.to_image(s, t)
        width, height = image_size
        x0, x1 = int(max(0, np.floor(xs.min()))), int(min(width, np.ceil(xs.max()) + 1))
        y0, y1 = int(max(0, np.floor(ys.min()))), int(min(height, np.ceil(ys.max()) + 1))
        return x0, y0, x1, y1

    def roi(self, image_size: tuple[int, int], max_gap: float = MAX_GAP) -> tuple[int, int, int, int]:
        """Pixel box (x0, y0, x1, y1) holding everything the warp can touch."""
        reach_s = float(self.jaw_half.max(initial=2.0)) + 0.2
        bottom = self.neck_bottom() + 0.2
        return self._box(np.array([-reach_s, reach_s, -reach_s, reach_s]),
                         np.array([self.nose_t, self.nose_t, bottom, bottom]), image_size)

    def lips_roi(self, image_size: tuple[int, int]) -> tuple[int, int, int, int]:
        """Pixel box around the opening and the lips: the warp's lip line and the interior."""
        top = float(self.outer_upper_t.min()) - UPPER_SHARE * MAX_GAP - 0.1
        bottom = float(self.outer_lower_t.max()) + MAX_GAP + 0.1
        r = LIPS_REACH
        return self._box(np.array([-r, r, -r, r]), np.array([top, top, bottom, bottom]), image_size)


_RGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]],
                       np.float32) / np.array([[0.9505], [1.0], [1.089]], np.float32)  # D65 white = 1


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab of sRGB values in 0..255 (n x 3); in numpy, as OpenCV's costs more per call than
    a few thousand pixels do."""
    c = np.clip(rgb.reshape(-1, 3).astype(np.float32) / 255, 0, 1)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1)


def lip_edges(frame: MouthFrame, image: np.ndarray, landmarks: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """The inner lips where the image shows them: (s, upper t, s, lower t), s a regular grid;
    None where there is no opening to read.

    On a smile that shows teeth the face mesh puts the upper inner lip inside the upper lip
    (on the astronaut sample 0.08 half mouth widths, 2-3 pixels at 720p, above where her teeth
    begin: a third of that thin lip), and at the corners it misses much of the dark between the
    lips. Closing the mouth from those lines, the lips met on a pale sliver of lip with the
    corners' dark left in place, and the face mesh read the shut mouth as a little open. So
    each column between the lips is read: what is unlike the lips (teeth: less red; the cavity
    and the teeth's shadow: much darker) around the middle of the opening is inside the mouth,
    and the lips' edges are where that run ends. Between the corners each line moves by its
    median offset (single columns are noisy: the gaps between teeth, their shading); towards
    the corners, where the dark between the lips is a wedge of its own, each column's reading
    takes over (a column with nothing of the inside: both lips at the mesh's middle)."""
    s = np.linspace(-CORNER_REACH, CORNER_REACH, EDGE_COLUMNS, dtype=np.float32)
    up = np.interp(s, frame.upper_s, frame.upper_t).astype(np.float32)
    low = np.interp(s, frame.lower_s, frame.lower_t).astype(np.float32)
    if frame.source_gap() < MIN_TEETH_READ_GAP:
        # Lips that touch (or nearly): the line between them is no opening to read.
        return None
    ou = np.minimum(np.interp(s, frame.outer_upper_s, frame.outer_upper_t), up).astype(np.float32)
    ol = np.maximum(np.interp(s, frame.outer_lower_s, frame.outer_lower_t), low).astype(np.float32)
    step = np.float32(EDGE_STEP_PX / frame.half_width)
    top = ou + np.float32(0.3) * (up - ou)
    bottom = ol - np.float32(0.3) * (ol - low)
    rows = int(np.ceil(float((bottom - top).max()) / step)) + 1
    tt = top[None, :] + step * np.arange(rows, dtype=np.float32)[:, None]
    inside_window = tt <= bottom[None, :]
    seen = frame.sample(image, s[None, :], tt)
    # One conversion for the samples and the skin beside the nose and on the cheeks.
    both = lab(np.concatenate([seen.reshape(-1, 3), _skin_pixels(image, landmarks)]))
    colours = both[:-len(SKIN_POINTS)].reshape((*tt.shape, 3))
    skin = np.median(both[-len(SKIN_POINTS):], axis=0)
    # The lips' and the skin's colours, from the lips' bodies and the skin around them.
    central = np.abs(s) <= 0.6
    upper_body = (tt >= ou[None, :]) & (tt <= (ou + 0.4 * (up - ou))[None, :])
    lower_body = (tt >= (ol - 0.4 * (ol - low))[None, :]) & (tt <= ol[None, :])
    body = (upper_body | lower_body) & central[None, :]
    if body.sum() < 4:
        return None
    # The redder half: the mesh's outer lines may take in a little skin.
    bodies = colours[body]
    lip = np.median(bodies[bodies[:, 1] >= np.median(bodies[:, 1])], axis=0)
    redness = max(float(lip[1] - skin[1]), 0.0)
    light, red = colours[..., 0], colours[..., 1]
    dark = light < lip[0] - DARKER
    bright = (light > lip[0] - DARKER) & inside_window
    lip_red = red >= lip[1] - max(MIN_LESS_RED, 0.5 * redness)
    teeth = bright & ~lip_red
    surely_teeth = teeth & (red < _teeth_red(red, bright & central[None, :], float(lip[1])))
    shown = _shows_teeth(surely_teeth & central[None, :], light, red, lip, skin)
    if frame.source_gap() < MIN_READ_GAP and not shown:
        return None  # lips that touch (or nearly): the line between them is no opening to read
    under_mesh_lip = tt >= (up - MAX_RAISE)[None, :]
    inner = _inside_mouth(dark, teeth, surely_teeth, shaded_lip(light, red, lip),
                          under_mesh_lip) & inside_window
    mid = 0.5 * (up + low)
    # Short breaks in a run (a tooth's shading, a gap between teeth) are bridged.
    # (An odd length: OpenCV's closing with an even one is off by a row and may drop a run's
    # first row, and a run found there came out a row long.)
    bridge = 2 * round(BRIDGE / float(step) / 2) + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (1, bridge))
    joined = cv2.morphologyEx(inner.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool) & inside_window
    # The run of each column nearest the middle of the opening, from its top to its bottom row.
    index = np.arange(rows)[:, None]
    found = inner.any(axis=0)
    nearest = np.argmin(np.where(inner, np.abs(tt - mid[None, :]), np.inf), axis=0)
    last_break = np.maximum.accumulate(np.where(joined, -1, index), axis=0)
    next_break = np.minimum.accumulate(np.where(joined, rows, index)[::-1], axis=0)[::-1]
    columns = np.arange(s.size)
    first, last = last_break[nearest, columns] + 1, next_break[nearest, columns] - 1
    new_up = np.where(found, tt[first, columns] - 0.5 * step, np.nan)
    new_low = np.where(found, tt[np.maximum(last, first), columns] + 0.5 * step, np.nan)
    middle = found & (np.abs(s) <= 0.6)
    if middle.sum() < 3:
        return None
    shift_up = np.clip(np.median((new_up - up)[middle]), -MAX_SHIFT, MAX_SHIFT)
    # The lower line only a little up: a tongue is as red as a lip, and reading it as lip would
    # leave it between the closed lips.
    shift_low = np.clip(np.median((new_low - low)[middle]), -MAX_RAISE, MAX_SHIFT)
    each_up = _steady(np.clip(np.where(found, new_up, mid), up - MAX_SHIFT, up + MAX_SHIFT))
    each_low = _steady(np.clip(np.where(found, new_low, mid), low - MAX_RAISE, low + MAX_SHIFT))
    corner = _smoothstep((np.abs(s) - 0.5) / 0.25)
    new_up = (1 - corner) * (up + shift_up) + corner * each_up
    new_low = (1 - corner) * (low + shift_low) + corner * each_low
    new_low = np.maximum(new_low, new_up)
    return s.astype(np.float64), new_up.astype(np.float64), s.astype(np.float64), new_low.astype(np.float64)


def _teeth_red(red: np.ndarray, bright: np.ndarray, lip_red: float) -> float:
    """The redness (a*) under which a bright pixel is surely tooth: half way from the lips' to
    the least red of the bright pixels (the teeth, if any show)."""
    if not bright.any():
        return lip_red
    return 0.5 * (lip_red + float(np.percentile(red[bright], 5)))


def _shows_teeth(teeth: np.ndarray, light: np.ndarray, red: np.ndarray, lip: np.ndarray,
                 skin: np.ndarray) -> bool:
    """Whether `teeth` (rows down, columns across) are teeth across TEETH_COLUMNS columns at
    least: lighter than the lips and much less red than the skin (between lips that touch,
    what is merely less red than the lips is skin or the lips' own sheen)."""
    whitish = teeth & (light > lip[0] + TEETH_LIGHTER) & (red < TEETH_RED_SHARE * skin[1])
    return int(whitish.any(axis=0).sum()) >= TEETH_COLUMNS


def shaded_lip(light: np.ndarray, red: np.ndarray, lip: np.ndarray) -> np.ndarray:
    """Where L* `light` and a* `red` look like a lip's edge in shade (`lip`: the lips' Lab):
    darker than the lips' bodies by DARKER, yet not by twice that, and at least as red. The
    near-black between lip and teeth at a smile's corners is not: taken for lip, it stayed
    between the shut lips as dark stubs at the corners."""
    return (light < lip[0] - DARKER) & (light >= lip[0] - 2 * DARKER) & (red >= lip[1])


def _inside_mouth(dark: np.ndarray, teeth: np.ndarray, surely_teeth: np.ndarray,
                  lip_in_shade: np.ndarray, under_mesh_lip: np.ndarray) -> np.ndarray:
    """What of each column (rows down, columns across) is inside the mouth: the dark, and from
    a column's first sure tooth down whatever is less red than the lips (teeth in shade too;
    `under_mesh_lip`: the rows under the face mesh's upper inner lip, or a little above it).
    Above that tooth, `lip_in_shade` (dark, but as red as a lip) is the upper lip's edge in shade
    (the near-black between lip and teeth at a smile's corners is not), and what is merely
    less red than the lips' bodies is a thin upper lip towards the corners, hardly redder than
    the skin: read as inside, the upper lip went with the opening, and closing it swallowed
    most of that lip."""
    below_a_tooth = np.maximum.accumulate(surely_teeth, axis=0)
    has_teeth = surely_teeth.any(axis=0)[None, :]
    lip_shade = lip_in_shade & ~below_a_tooth & has_teeth
    # Where no tooth is sure (a corner tooth in shade) what is less red than the lips counts
    # where it runs into the dark, under the mesh's upper lip (a corner's thin upper lip is as
    # red as a tooth in shade there).
    shaded_teeth = teeth & under_mesh_lip
    in_shade = shaded_teeth & ~has_teeth & _touching(shaded_teeth, dark)
    return (dark & ~lip_shade) | (teeth & below_a_tooth) | in_shade


def _touching(runs: np.ndarray, other: np.ndarray) -> np.ndarray:
    """The pixels of `runs` (rows down, columns across) whose run in their column has a pixel
    of `other` right above or right below it."""
    rows = runs.shape[0]
    index = np.arange(rows)[:, None]
    # The first row past each run, below and above (the run's own pixels stand in for it).
    below = np.minimum.accumulate(np.where(runs, rows, index)[::-1], axis=0)[::-1]
    above = np.maximum.accumulate(np.where(runs, -1, index), axis=0)
    columns = np.arange(runs.shape[1])[None, :]
    padded = np.concatenate([other, np.zeros((1, runs.shape[1]), bool)])  # row `rows`: none
    return runs & (padded[below, columns] | (padded[above, columns] & (above >= 0)))


def lip_crease(frame: MouthFrame, image: np.ndarray) -> float:
    """How far below the lower inner lip (half mouth widths) the dark line between lips that
    touch reaches: the mesh puts the line between the lips inside that line, and an opening
    that moved its lower part down with the lower lip drew a thin dark band along the lip."""
    s = np.linspace(-0.5, 0.5, CREASE_COLUMNS, dtype=np.float32)
    low = np.interp(s, frame.lower_s, frame.lower_t).astype(np.float32)
    outer = np.maximum(np.interp(s, frame.outer_lower_s, frame.outer_lower_t), low + 0.05).astype(np.float32)
    step = np.float32(EDGE_STEP_PX / frame.half_width)
    # From a little above the line to the middle of the lower lip.
    tt = (low - 0.03)[None, :] + step * np.arange(int(np.ceil(0.2 / step)) + 1, dtype=np.float32)[:, None]
    tt = np.minimum(tt, (0.5 * (low + outer))[None, :])
    light = lab(frame.sample(image, s[None, :], tt))[:, 0].reshape(tt.shape)
    darkest = np.argmin(light, axis=0)
    columns = np.arange(s.size)
    # The lower lip's own lightness: the brightest below the line's darkest point.
    below = np.where(np.arange(tt.shape[0])[:, None] > darkest[None, :], light, -np.inf)
    lip = below.max(axis=0)
    back = (below >= 0.5 * (light[darkest, columns] + lip)[None, :]) & np.isfinite(below)
    first = np.where(back.any(axis=0), np.argmax(back, axis=0), darkest)
    reach = float(np.median(tt[first, columns] - low))
    return float(np.clip(reach, 0.0, MAX_CREASE))


def _steady(line: np.ndarray) -> np.ndarray:
    """A line read column by column, without single-column spikes (a running median of 5) and
    smoothed a little."""
    padded = np.pad(line, 2, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 5)
    middle = np.sort(windows, axis=1)[:, 2]
    return np.convolve(np.pad(middle, 1, mode="edge"), np.array([0.25, 0.5, 0.25]), mode="valid")


def _skin_pixels(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    pts = np.round(landmarks[list(SKIN_POINTS), :2]).astype(int)
    pts[:, 0] = np.clip(pts[:, 0], 0, w - 1)
    pts[:, 1] = np.clip(pts[:, 1], 0, h - 1)
    return np.asarray(image[pts[:, 1], pts[:, 0]])


def _to_corners(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An inner-lip curve carried on a little past the outer mouth corners (s = -1, 1 at t = 0),
    so the dark corners of an open source mouth count as part of its opening and close too."""
    head_s, head_t = ([-CORNER_REACH], [0.0]) if s[0] > -CORNER_REACH else ([], [])
    tail_s, tail_t = ([CORNER_REACH], [0.0]) if s[-1] < CORNER_REACH else ([], [])
    return (np.concatenate([head_s, s, tail_s]), np.concatenate([head_t, t, tail_t]))


def _jaw_profile(s: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-width of the face outline at each level below the nose, sorted by level."""
    levels = np.linspace(t.min(), t.max(), 12)
    near = np.abs(t[None, :] - levels[:, None]) <= max(0.35, (t.max() - t.min()) / 10)
    return levels, np.where(near, np.abs(s)[None, :], 0.0).max(axis=1)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.minimum(np.maximum(x, 0.0), 1.0)  # (np.clip is several times slower on small arrays)
    return x * x * (3 - 2 * x)


class Region:
    """Where the face may move, over a pixel box: 1 inside the face and neck, fading to 0 just
    outside them (a blurred mask: no creases, unlike a distance transform's ridges)."""

    def __init__(self, frame: MouthFrame, xs: np.ndarray, ys: np.ndarray) -> None:
        """Covers every point of `xs`, `ys` (one raster can serve several grids)."""
        unit = frame.half_width
        pad = int(np.ceil(0.3 * unit)) + 4
        self.x0, self.y0 = int(np.floor(xs.min())) - pad, int(np.floor(ys.min())) - pad
        x1, y1 = int(np.ceil(xs.max())) + pad, int(np.ceil(ys.max())) + pad
        mask = np.zeros((y1 - self.y0, x1 - self.x0), np.uint8)
        for poly in frame.region_polygons():
            cv2.fillPoly(mask, [np.round(poly - np.array([self.x0, self.y0])).astype(np.int32)], (255,))
        size = 2 * round(0.12 * unit) + 1
        grow = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
        blur = cv2.GaussianBlur(grow.astype(np.float32) * np.float32(2 / 255), (0, 0), max(0.06 * unit, 1.0))
        self.weight = _smoothstep(np.where(grow > 0, blur, np.float32(0))).astype(np.float32)

    def at(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        h, w = self.weight.shape
        ix = np.clip(np.round(xs).astype(np.int64) - self.x0, 0, w - 1)
        iy = np.clip(np.round(ys).astype(np.int64) - self.y0, 0, h - 1)
        return self.weight[iy, ix]


@dataclass
class MouthWarp:
    """Result of warping the mouth for one frame, over a block of output pixels."""

    src_x: np.ndarray
    src_y: np.ndarray
    interior_alpha: np.ndarray  # 0..1, where the mouth interior shows
    gap_px: float  # the opening at the middle, pixels
    s: np.ndarray  # the output pixels' mouth-local coordinates (fixed to the skull)
    t: np.ndarray
    new_upper: np.ndarray  # the inner lips' new positions (t) at each pixel's column
    new_lower: np.ndarray
    closed_upper: np.ndarray  # the upper inner lip of the shut mouth at each column (the skull)
    shape: MouthShapeFrame
    jaw_drop: float  # how far the jaw (and the lower teeth) dropped from a closed bite


class MouthWarper:
    """Warps the mouth over one fixed set of pixels, frame after frame.

    Everything that depends only on where a pixel is (its mouth-local coordinates, how deep it
    lies in the face, how much the corners' spread reaches it) is computed once; a frame then
    costs a few dozen float32 array operations.
    """

    def __init__(self, frame: MouthFrame, xs: np.ndarray, ys: np.ndarray,
                 neutralise_jaw: bool = False, region: Region | None = None,
                 compact: bool = False) -> None:
        """`neutralise_jaw`: the source's lip gap is speech (a video frame), so the jaw closes
        it as well as the lips; otherwise (a photo) the jaw stays where the source has it.
        `region`: a raster of the movable region covering these points, shared between grids.
        `compact`: compute only the points that may move (for maps only, not the interior)."""
        self.frame = frame
        # Nothing moves outside the face and neck; the jaw's motion fades in from the outline.
        weight = (region or Region(frame, xs, ys)).at(xs, ys)
        self.shape = xs.shape
        self.xs, self.ys = xs.astype(np.float32), ys.astype(np.float32)
        self.moving: np.ndarray | None = None
        if compact:
            self.moving = np.flatnonzero(weight > 0)
            xs, ys, weight = xs.ravel()[self.moving], ys.ravel()[self.moving], weight.ravel()[self.moving]
        self.region = weight
        s, t = frame.to_local(xs.astype(np.float64), ys.astype(np.float64))
        self.s = s.astype(np.float32)
        self.t = t.astype(np.float32)
        # The jaw turns about the ears: the chin drops most, the jaw's angles hardly at all.
        jaw_half = float(frame.jaw_half.max(initial=2.0))
        inner = 1.0 - _smoothstep((np.abs(s) / jaw_half - 0.25) / 0.7)
        # The jaw's share fades down the neck, starting just under the chin (whose edge moves whole).
        neck = 1.0 - _smoothstep((t - (frame.chin_t + 0.3)) / NECK_FALLOFF)
        self.jaw_weight = (inner * neck).astype(np.float32)
        near_lips = np.exp(-((t - 0.1) ** 2) / (2 * 0.5**2))
        lateral_fade = np.exp(-(np.maximum(np.abs(s) - 1.1, 0) ** 2) / (2 * 0.45**2))
        self.spread_reach = (near_lips * lateral_fade * self.region).astype(np.float32)
        self.above_nose = (t - frame.nose_t).astype(np.float32)
        self.jaw_open_in_source = max(frame.source_gap(), 0.0) if neutralise_jaw else 0.0
        # The face mesh puts the inner lips of a mouth showing teeth a little inside the real
        # opening: a speaking source is closed by a little more than it measures (not when
        # the lips' edges were read on the image: they are where the lips are).
        self.overclose = np.float32(OVERCLOSE if neutralise_jaw and not frame.edges_read else 0.0)
        self.edge_blur = np.float32(EDGE_BLUR_PX / frame.half_width if frame.edges_read else 0.0)
        self.edges_read = frame.edges_read
        self.crease = np.float32(frame.crease)
        # From the lower lip's outer edge to the chin the skin stretches as the chin lags the lip.
        lip_depth = float(np.interp(0.0, frame.outer_lower_s, frame.outer_lower_t))
        self.chin_span = np.float32(max(frame.chin_t - lip_depth, 0.3))

    def _rim_at(self, s: np.ndarray) -> np.ndarray | np.float32:
        """The rim skipped when closing, across the mouth. Lips read on the picture hold the
        dark between them inside their opening: skipping a whole rim as well ate a third of a
        thin upper lip. Towards the corners, where the dark is a wedge of its own that the
        reading follows less well, the whole rim is skipped still."""
        if not self.edges_read:
            return np.float32(RIM)
        corner = _smoothstep((np.abs(s) - np.float32(0.5)) / np.float32(0.3))
        return np.float32(READ_RIM) + np.float32(RIM - READ_RIM) * corner

    def warp(self, shape: MouthShapeFrame, interior: bool = True) -> MouthWarp:
        """Backward map for the pixels so the mouth takes `shape`; `interior`: also where the
        interior shows (not needed away from the lips)."""
        frame, s, t = self.frame, self.s, self.t
        # Corners spread with width and pull in with rounding; the effect fades away from the lips.
        omega = 0.16 * (shape.width - WIDTH_REST) - 0.16 * shape.round
        s_src = s / (1.0 + np.float32(omega) * self.spread_reach)

        upper = np.interp(s_src, frame.upper_s, frame.upper_t).astype(np.float32)
        lower = np.interp(s_src, frame.lower_s, frame.lower_t).astype(np.float32)
        outer_upper = np.interp(s_src, frame.outer_upper_s, frame.outer_upper_t).astype(np.float32)
        outer_lower = np.interp(s_src, frame.outer_lower_s, frame.outer_lower_t).astype(np.float32)
        gap_now = np.maximum(lower - upper, 0.0)
        # An open source mouth has a dark rim inside its lips: closing it, each lip reaches a
        # little past the landmark line so the rim is not pulled into a ghost line.
        rim = np.float32(0.5) * (np.clip(gap_now - np.float32(0.03), 0, self._rim_at(s_src))
                                 + self.overclose * gap_now)
        # Lips read on the picture: their edges' blur (a pixel) goes too, or the teeth it holds
        # show as a pale line between the closed lips.
        rim = rim + self.edge_blur * np.minimum(gap_now / np.float32(0.03), np.float32(1))
        # A rounder mouth opens rounder: a fuller lens profile across the opening.
        exponent = np.float32(0.8 - 0.35 * shape.round)
        lens = np.maximum(1.0 - s_src * s_src, 0.0) ** exponent
        target_gap = np.float32(MAX_GAP * shape.open) * lens
        # Lips that touch: opening them, the lower lip starts under the dark line between them
        # (shut, they keep it), or it runs along the lip as a thin dark band.
        crease = self.crease * np.minimum(target_gap * np.float32(frame.half_width / 2), np.float32(1))
        upper, lower = upper - rim, lower + rim + crease
        gap_now = gap_now + 2 * rim + crease
        # Closing the source's own gap, the lips meet halfway (the closed line then runs smoothly
        # into the corners); opening to the target, the lower lip and jaw do most of the work.
        up = np.float32(UPPER_SHARE) * target_gap - np.float32(CLOSE_SHARE) * gap_now
        down = np.float32(1 - UPPER_SHARE) * target_gap - np.float32(1 - CLOSE_SHARE) * gap_now

        new_upper = upper - up
        new_lower = lower + down
        middle = 0.5 * (new_upper + new_lower)

        # Above the lips: the whole upper lip rises; the skin up to the nose takes the stretch.
        lip_top = outer_upper - up
        fade_up = _smoothstep(self.above_nose / np.maximum(lip_top - np.float32(frame.nose_t), 1e-3))
        t_from_upper = t + up * fade_up * self.region

        # Below: the lower lip drops whole; from its outer edge down the chin takes JAW_SHARE of
        # the middle's drop, fading at the face's outline and down the neck.
        jaw_drop = np.float32(JAW_SHARE * ((1 - UPPER_SHARE) * MAX_GAP * shape.open
                                           - (1 - CLOSE_SHARE) * self.jaw_open_in_source))
        chin = _smoothstep((t - (outer_lower + down)) / self.chin_span)
        shift = down * (1 - chin) + jaw_drop * chin * self.jaw_weight
        t_from_lower = t - shift * self.region

        t_src = np.where(t < middle, t_from_upper, t_from_lower)
        s_src = s + (s_src - s) * self.region
        src_x, src_y = frame.to_image(s_src, t_src)
        if self.moving is not None:
            full_x, full_y = self.xs.copy(), self.ys.copy()
            full_x.ravel()[self.moving] = src_x
            full_y.ravel()[self.moving] = src_y
            src_x, src_y = full_x, full_y

        px = np.float32(frame.half_width)
        alpha = None
        if interior:
            opening = np.minimum(t - new_upper, new_lower - t) * px + np.float32(0.5)
            # Where the lips meet (gap under a pixel) nothing of the interior shows.
            alpha = np.clip(np.minimum(opening, target_gap * px - np.float32(0.5)), 0, 1)
        return MouthWarp(
            src_x=src_x.astype(np.float32, copy=False),
            src_y=src_y.astype(np.float32, copy=False),
            interior_alpha=alpha if alpha is not None else np.zeros_like(s),
            gap_px=float(MAX_GAP * shape.open * px),
            s=s, t=t, new_upper=new_upper, new_lower=new_lower,
            # The upper teeth hang from where the upper lip rests when the mouth is shut.
            closed_upper=upper + np.float32(CLOSE_SHARE) * gap_now,
            shape=shape,
            jaw_drop=float((1 - UPPER_SHARE) * JAW_SHARE * MAX_GAP * shape.open),
        )
