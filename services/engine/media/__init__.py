"""Step 1, media: decoding and encoding video and audio (PyAV), image headers, audio resampling,
and espeak-ng speech synthesis for training, tests and the demo."""
