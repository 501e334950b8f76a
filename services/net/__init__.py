"""Reaching the outside: which addresses are public, fetching inputs pinned to a checked address,
and naming what fetched bytes are."""
