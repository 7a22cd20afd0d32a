"""The SpERT.MT model, its losses and encoder loading."""

from .spertmt import SpERTMT

__all__ = ["SpERTMT"]
