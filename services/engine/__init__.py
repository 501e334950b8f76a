"""The lip-sync engine: media I/O, face analysis, audio -> mouth shapes, rendering.

Nothing in here knows about Redis, gRPC or HTTP.
"""
