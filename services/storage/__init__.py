"""Where outputs and uploads live: the local store with HMAC-signed links (`links.py`) or
S3-compatible object storage with presigned links (`s3.py`)."""
