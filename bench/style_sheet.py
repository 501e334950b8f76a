"""Contact sheets of the prompt's style on the sample faces: one 720p image render per prompt
(same speech, same seed), a face crop from two frames of each (mouth shut, mouth open).

    .venv/bin/python bench/style_sheet.py [--out docs/look] [--faces grace,astronaut]

Writes `style-720p-<face>.jpg`: a row per prompt, labelled with the prompt and the style it set.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.devtools import samples
from services.engine.faces import face_boxes as faces
from services.engine.faces import face_landmarks as fl
from services.engine.render import renderer as render
from services.engine.render.style import parse_prompt

# (prompt, its label on the sheet: cv2 draws ASCII only)
PROMPTS = (("", "(no prompt)"), ("smiling", "smiling"), ("serious", "serious"),
           ("very surprised", "very surprised"), ("very expressive", "very expressive"),
           ("笑顔で、控えめに", "egao de, hikaeme ni (smiling, subdued)"))
SENTENCE = "Bob and Mary bought a map. Maybe Pam will pay."
FACES = {"grace": samples.grace_hopper, "astronaut": samples.astronaut}


def _frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def sheet(face: str, work: Path) -> np.ndarray:
    image = samples.save_image(work / f"{face}.png", FACES[face]())
    audio = work / "speech.wav"
    if not audio.exists():
        samples.save_speech(audio, SENTENCE, variant="m3")
    rows = []
    for number, (prompt, name) in enumerate(PROMPTS):
        style = parse_prompt(prompt)
        out = work / f"{face}-{number}.mp4"
        render.render_image(image, audio, out, resolution="720p", seed=1, style=style)
        frames = _frames(out)
        if number == 0:
            (found,) = faces.select_faces(frames[0])
            xy = found.landmarks[:, :2]
            lo, hi = xy.min(axis=0), xy.max(axis=0)
            pad = 0.12 * float(max(hi - lo))
            box = (int(lo[0] - pad), int(lo[1] - 2 * pad), int(hi[0] + pad), int(hi[1] + pad))
            openings = [fl.mouth_opening(f.landmarks) for f in
                        (faces.select_faces(frame)[0] for frame in frames[::3])]
            widest = 3 * int(np.argmax(openings))
        crops = [f[box[1]:box[3], box[0]:box[2]] for f in (frames[0], frames[widest])]
        row = np.concatenate(crops, axis=1)
        label = f"{name}: expr {style.expressiveness}, {style.emotion} {style.emotion_strength}"
        for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
            cv2.putText(row, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, thickness,
                        cv2.LINE_AA)
        rows.append(row)
    return np.concatenate(rows, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("docs/look"))
    parser.add_argument("--faces", default="grace,astronaut")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for face in args.faces.split(","):
            picture = sheet(face, Path(tmp))
            path = args.out / f"style-720p-{face}.jpg"
            cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
            print(f"wrote {path} {picture.shape[1]}x{picture.shape[0]}")


if __name__ == "__main__":
    main()
