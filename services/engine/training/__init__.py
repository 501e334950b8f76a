"""Training and export of the audio -> mouth-shape model (PyTorch lives only in here).

`python -m services.engine.training.train` generates synthetic speech with espeak-ng, trains the
model, evaluates it on the held-out split, writes `services/engine/weights/` and exports ONNX to
`triton_models/mouth_shapes/`.
"""
