"""The inference side: the queue worker, its fetch -> render -> store pipeline, and the direct
`InferenceService.Render` RPC. Pixels are the engine's business; this package only moves jobs."""
