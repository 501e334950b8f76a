"""Where the models run for the inference service: in-process ONNX Runtime (the engine's
`OnnxBackend`, the default) or a Triton Inference Server (`triton.py`, the one module that
imports `tritonclient`), chosen by `Settings.triton_url`."""
