"""What a render looks like and how well it syncs, measured from its pixels with the face mesh
(benchmarks and tests)."""
