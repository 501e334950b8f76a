"""Operator-supplied generators: heavier lip-sync networks that replace the built-in renderer.

The one implemented is a Wav2Lip-class generator (Prajwal et al., 2020): a network written here
from the paper's description (`wav2lip_net.py`, torch, used only to load a checkpoint and export
it), exported to ONNX (`export.py`, `lipsync export-generator`) and run per video frame by
`wav2lip_render.py` through ONNX Runtime in-process or a Triton server.

Nothing in this repository ships or downloads weights. Here the path is tested only with
randomly initialised weights, so its output is noise until an operator exports a trained
checkpoint of their own; see docs/operator-models.md.
"""
