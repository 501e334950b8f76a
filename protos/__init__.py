"""Protobuf definitions and their generated code."""
