"""spertmt: SpERT.MT joint entity and relation extraction with fused span kernels."""

from . import ops

__version__ = "0.1.0"

__all__ = ["ops", "__version__"]
