"""Step 2, faces: detection, the 468-point face mesh, tracking and smoothing, and the TFLite files
they run."""
