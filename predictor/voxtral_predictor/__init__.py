"""Voxtral on vLLM behind a KServe model server."""

__version__ = "0.1.0"
