"""spertmt: SpERT.MT joint entity and relation extraction with fused span kernels.

    import spertmt
    metrics = spertmt.train(spertmt.Config(epochs=2), "runs/demo")
    extractor = spertmt.load("runs/demo/best")
    predictions = extractor.predict(spertmt.read_documents("test.json"))
"""

__version__ = "0.1.0"

from . import ops  # noqa: E402
from .config import Config  # noqa: E402
from .data.documents import Document, Entity, Relation, Types, read_documents, read_types  # noqa: E402
from .evaluate import evaluate  # noqa: E402


def load(folder, device: str = "auto"):
    """Loads a trained model folder; see `spertmt.api.Extractor`."""
    from .api import load as _load

    return _load(folder, device)


def train(config, output_dir, progress: bool = True):
    """Trains and evaluates; see `spertmt.trainer.train`."""
    from .trainer import train as _train

    return _train(config, output_dir, progress)


__all__ = ["Config", "Document", "Entity", "Relation", "Types", "__version__", "evaluate", "load", "ops",
           "read_documents", "read_types", "train"]
