"""The public REST API: a Starlette transcoder over the job service's gRPC API, plus webhooks."""
