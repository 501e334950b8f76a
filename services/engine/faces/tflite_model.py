"""A TFLite model shared by threads: one interpreter per thread, created on first use.

A LiteRT interpreter is not thread-safe, and a lock would serialise the render workers; an
interpreter costs only a few MB, so each thread gets its own.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from services.engine.engine_errors import ModelError
from services.engine.faces.assets import model_path


class _Loaded:
    """An interpreter with its tensor indices looked up once."""

    def __init__(self, interp: Any) -> None:
        self.interp = interp
        self.input_index: int = interp.get_input_details()[0]["index"]
        self.input_shape = tuple(int(v) for v in interp.get_input_details()[0]["shape"])
        self.output_indices: list[int] = [d["index"] for d in interp.get_output_details()]


class TFLiteModel:
    """Runs one float32 input through a model file from `assets.model_path(name)`."""

    def __init__(self, name: str, num_threads: int = 1) -> None:
        self.name = name
        self.num_threads = num_threads
        self._local = threading.local()

    def _loaded(self) -> _Loaded:
        loaded: _Loaded | None = getattr(self._local, "loaded", None)
        if loaded is None:
            try:
                from ai_edge_litert.interpreter import Interpreter

                interp = Interpreter(
                    model_path=str(model_path(self.name)), num_threads=self.num_threads
                )
                interp.allocate_tensors()
                loaded = _Loaded(interp)
            except Exception as exc:  # missing file, corrupt file, runtime not installed
                raise ModelError(f"cannot load face model {self.name}: {exc}") from exc
            self._local.loaded = loaded
        return loaded

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._loaded().input_shape

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs in the model's declared order, copied (the interpreter reuses its buffers)."""
        loaded = self._loaded()
        try:
            loaded.interp.set_tensor(loaded.input_index, x)
            loaded.interp.invoke()
            return [loaded.interp.get_tensor(i).copy() for i in loaded.output_indices]
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"face model {self.name} failed: {exc}") from exc
