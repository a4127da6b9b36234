"""The harness version, in the leaf layer so that every record can carry it."""

__version__ = "0.2.0"
