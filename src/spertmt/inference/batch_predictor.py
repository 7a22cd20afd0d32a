"""Batch inference over corpora larger than one machine, with Ray Data (`pip install 'spertmt[ray]'`).

    import ray
    from spertmt import BatchPredictor

    ray.data.DataContext.get_current().execution_options.preserve_order = True  # results in input order
    texts = ray.data.read_text("corpus.txt")                # a column "text", one row per line
    results = texts.map_batches(BatchPredictor, fn_constructor_kwargs={"model": "runs/c04/best"},
                                concurrency=4, batch_size=256)
    results.write_parquet("results/")                        # text, entities, relations (JSON strings)

Ray builds one BatchPredictor per worker (the model is loaded once, on the first batch), hands it
batches of rows (a dict of arrays, or a pandas frame with batch_format="pandas") and gets the same
batch back with two columns added: `entities` and `relations`, JSON strings of `Extraction.to_dict()`'s
lists (character offsets into the row's text, scores; a relation's head and tail index the
entities). Nothing here imports Ray: the class is a plain picklable callable, usable without it.
"""

from __future__ import annotations

import json
import math

from .loading import load_extractor
from .texts import MAX_SENTENCE_WORDS


class BatchPredictor:
    """Extracts entities and relations from a batch of texts; picklable (the model is not pickled:
    each copy loads it on its first call)."""

    def __init__(self, model: str, device: str = "auto", batch_size: int | None = None, precision: str = "fp32",
                 threshold: float | None = None, relations: bool = True, text_column: str = "text",
                 threads: int | None = None, max_sentence_words: int = MAX_SENTENCE_WORDS, runtime: str = "torch",
                 trust_remote_code: bool = False):
        """`model`: a model folder or hub repo id; `batch_size`: sentences per forward pass at most
        (default: the engine's, Extractor.extract; Ray's own batch_size is rows per call); `threads`:
        CPU threads in this worker (default: the runtime's);
        `runtime` "onnx" on a folder from `spertmt export --format onnx`: workers without torch;
        `trust_remote_code`: run the encoder's own Python code, where the model has some."""
        self.model, self.device, self.batch_size, self.precision = model, device, batch_size, precision
        self.runtime, self.trust_remote_code = runtime, trust_remote_code
        self.threshold, self.relations, self.text_column = threshold, relations, text_column
        self.threads, self.max_sentence_words = threads, max_sentence_words
        self._extractor = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_extractor": None}

    @property
    def extractor(self):
        if self._extractor is None:
            self._extractor = load_extractor(self.model, device=self.device, precision=self.precision,
                                         runtime=self.runtime, threads=self.threads,
                                         trust_remote_code=self.trust_remote_code)
        return self._extractor

    def __call__(self, batch):
        """`batch`: a dict of columns (lists or numpy arrays) or a pandas DataFrame with a text column;
        returns the same kind, with the columns `entities` and `relations` added."""
        if self.text_column not in batch:
            raise KeyError(f"the batch has no column {self.text_column!r} (its columns: {', '.join(map(str, batch))}); "
                           "pass text_column=")
        texts = [_text(value, self.text_column, row) for row, value in enumerate(batch[self.text_column])]
        results = self.extractor.extract(texts, batch_size=self.batch_size, threshold=self.threshold,
                                         relations=self.relations, max_sentence_words=self.max_sentence_words)
        entities = [json.dumps(r.to_dict()["entities"], ensure_ascii=False) for r in results]
        relations = [json.dumps(r.to_dict()["relations"], ensure_ascii=False) for r in results]
        if hasattr(batch, "assign"):  # pandas
            return batch.assign(entities=entities, relations=relations)
        import numpy as np

        return {**batch, "entities": np.array(entities, dtype=object), "relations": np.array(relations, dtype=object)}


def _text(value, column: str, row: int) -> str:
    """A row's text. A missing one (None, NaN, pandas' NA: what a column of texts holds where a
    value is absent) is an empty text, with an empty result, as an empty line of `predict`'s .txt."""
    if isinstance(value, str):
        return value
    if value is None or (isinstance(value, float) and math.isnan(value)) or type(value).__name__ == "NAType":
        return ""
    raise TypeError(f"column {column!r}, row {row} of the batch: {value!r} is a {type(value).__name__}; "
                    "expected a text (a string; a missing value gives an empty result)")
