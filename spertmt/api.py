"""The user-facing handle on a trained model: `spertmt.load(folder)`."""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import load_model, load_tokenizer_from
from .data.documents import Document
from .predict import predict_documents


class Extractor:
    """A trained model with its tokenizer, ready to predict."""

    def __init__(self, model, tokenizer, device: torch.device):
        self.model, self.tokenizer, self.device = model, tokenizer, device

    @property
    def types(self):
        return self.model.types

    @property
    def config(self):
        return self.model.config

    def predict(self, documents: list[Document], batch_size: int = 8, threshold: float | None = None,
                progress: bool = False) -> list[Document]:
        """Entities and relations for pre-tokenised documents (their gold annotations are ignored)."""
        return predict_documents(self.model, self.tokenizer, documents, batch_size=batch_size, device=self.device,
                                 threshold=threshold, progress=progress, max_length=self.config.max_length)


def load(folder: str | Path, device: str = "auto") -> Extractor:
    """Loads a model folder written by training (`<output>/best` or `<output>/last`)."""
    resolved = torch.device("cuda" if device == "auto" and torch.cuda.is_available() else
                            ("cpu" if device == "auto" else device))
    return Extractor(load_model(folder, resolved), load_tokenizer_from(folder), resolved)
