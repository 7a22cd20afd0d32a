"""The engine boundary: what an engine must do (`Engine`), the one inference loop over any engine
(`predict_documents`) and the extractor API every engine shares (`EngineExtractor`). Imports no
torch: the engine without torch runs through here too."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

import numpy as np

from ...config import Config
from ...data.documents import Document, Types, as_documents
from ...data.encoding import Encoding, longest_first
from ..calibration import Calibration
from ..decoding import decode_arrays, needs_joint_scores, threshold_arguments
from ..texts import MAX_SENTENCE_WORDS, Extraction, prepare_texts


class Engine(Protocol):
    """What runs a model, up to the heads' decisions.

    `predict_batch` returns RawPredictions' fields as numpy arrays, in decoding.decode_arrays'
    order: spans [B, S, 2]; entity keep, type, score, probability [B, S]; pairs [B, P, 2]; relation
    keep, score, probability [B, P, R]. A θ (`entity_threshold`, `relation_threshold`) is a number,
    one number per type (a list or a tensor), or None for the model config's. `given`: per document
    of the batch, word spans taken as its entities (only relations among them are decided)."""

    @property
    def types(self) -> Types: ...

    @property
    def config(self) -> Config: ...

    @property
    def extract_batching(self) -> tuple[int, int | None]:
        """(texts, padded pieces or None) per batch at most when extracting: config.EXTRACT_BATCHING's
        entry for where the engine runs."""

    def running(self) -> AbstractContextManager:
        """The state the batches run in (the PyTorch model in eval mode, without autograd)."""

    def set_prediction_settings(self, **settings) -> None:
        """Config.with_prediction_settings for what the engine decides next (or a named error for a
        setting it cannot change)."""

    def encode(self, documents: list[Document]) -> list[Encoding]:
        """Each document's words as the encoder's pieces."""

    def predict_batch(self, documents: list[Document], encodings: list[Encoding], entity_threshold: Any,
                      relation_threshold: Any, relations: bool, given: list | None) -> list[np.ndarray]:
        """One batch's decisions (see the class)."""


def check_switch(name: str, value, none_too: bool = False) -> None:
    """A yes-or-no argument is a bool: "no" or 0.0 would read as yes or no without a word."""
    if not (isinstance(value, (bool, np.bool_)) or (none_too and value is None)):
        raise TypeError(f"{name} must be True or False{' (or None)' if none_too else ''}, not {value!r}")


def predict_documents(engine: Engine, documents: list[Document], *, batch_size: int = Config.eval_batch_size,
                      batch_pieces: int | None = None, entity_threshold=None, relation_threshold=None,
                      relation_joint_cut: list[float] | None = None, relations: bool = True, flat: bool = False,
                      given: list[list[tuple[int, int]]] | None = None, progress: bool = False,
                      desc: str = "predict", calibration: Calibration | None = None) -> list[Document]:
    """The inference loop of every engine (dev and test scoring, θ tuning, calibration, `predict`
    and `extract`, and through them files, spaCy, Ray and the service): pre-tokenised documents
    batched longest first (by pieces: less padding of pieces and candidate spans), decided by the
    engine and decoded (decoding.decode_arrays); results in input order. `batch_pieces`: also at
    most this many padded pieces a batch (data.encoding.longest_first).

    `flat`: no two entities overlap (SpERT's nested decoding by default, as scoring against SpERT's
    evaluator wants); `given` as Engine.predict_batch; `relation_joint_cut`: relations decided on
    their joint score (decoding.joint_cuts); `calibration`: the model folder's, for calibrated
    probabilities (scoring needs none)."""
    from tqdm.auto import tqdm

    check_switch("relations", relations)
    encodings = engine.encode(documents)
    out: dict[int, Document] = {}
    # how a score becomes a joint score's factor, read only where joint scores are computed
    margins = needs_joint_scores(relation_joint_cut, calibration) and engine.config.multitask_heads
    with engine.running():
        batches = longest_first(encodings, batch_size, batch_pieces)
        for chunk in tqdm(batches, desc=desc, disable=not progress, dynamic_ncols=True):
            batch = [documents[i] for i in chunk]
            arrays = engine.predict_batch(batch, [encodings[i] for i in chunk], entity_threshold, relation_threshold,
                                          relations, [given[i] for i in chunk] if given is not None else None)
            decoded = decode_arrays(*arrays, batch, engine.types, flat=flat, calibration=calibration,
                                    relation_joint_cut=relation_joint_cut, given=given is not None, margins=margins)
            for i, predicted in zip(chunk, decoded):
                out[i] = predicted
    return [out[i] for i in range(len(documents))]


class EngineExtractor:
    """`predict` and `extract` over `self.engine`, the same for every engine; a subclass sets
    `engine`, `thresholds` (thresholds.json's content, {} for none) and `calibration` (or None)."""

    engine: Engine
    thresholds: dict
    calibration: Calibration | None

    @property
    def types(self) -> Types:
        return self.engine.types

    @property
    def config(self) -> Config:
        return self.engine.config

    def set_prediction_settings(self, **settings) -> None:
        """θ, span width, decoding, ... (Config.with_prediction_settings) for what this extractor predicts next."""
        self.engine.set_prediction_settings(**settings)

    def threshold_arguments(self, threshold: float | None = None) -> dict:
        """θ per head by the one rule (decoding.thresholds_to_apply: explicit, else tuned on dev, else
        the config's), as predict_documents' keyword arguments."""
        return threshold_arguments(self.config, self.types, self.thresholds, threshold)

    def predict(self, documents: Sequence[Document | dict], batch_size: int = Config.eval_batch_size,
                threshold: float | None = None, progress: bool = False, flat_ner: bool = False) -> list[Document]:
        """Entities and relations for pre-tokenised documents, Documents or SpERT JSON objects (their
        gold annotations are ignored), with SpERT's nested decoding unless `flat_ner` (as `extract`'s),
        as SpERT's evaluator scores."""
        return predict_documents(self.engine, as_documents(documents), batch_size=batch_size, progress=progress,
                                 flat=flat_ner, calibration=self.calibration, **self.threshold_arguments(threshold))

    def extract(self, texts: str | Sequence[str] | Sequence[Sequence[str]], entities: Sequence | None = None, *,
                batch_size: int | None = None, batch_pieces: int | None = None,
                threshold: float | None = None, relations: bool = True,
                progress: bool = False, max_sentence_words: int = MAX_SENTENCE_WORDS,
                flat_ner: bool | None = None) -> list[Extraction]:
        """Extracts entities and relations from raw texts (or pre-tokenised word lists).

        Args:
            texts: a string, a list of strings, or a list of word lists.
            entities: optional, one list per text of your own entities, as dicts with "type" and
                "start"/"end" (characters, for strings) or "token_start"/"token_end" (words); then
                only the relations among them are predicted. Results list entities in text order.
            batch_size, batch_pieces: texts and padded pieces per batch at most (default: the
                engine's, Engine.extract_batching: on a CPU 64 texts and 384 pieces, on a GPU 16 texts).
            threshold: θ for both heads (default: the tuned thresholds, else the config's).
            relations: False extracts entities only and skips the relation work.
            flat_ner: True: no two entities overlap (of overlapping spans the best-scoring one is
                kept) and relations join kept entities only; False: SpERT's nested decoding; None:
                the model config's `flat_ner` (False unless set). Given `entities` are kept as given.
            max_sentence_words: a sentence of a raw text longer than this (a text without sentence
                punctuation) is cut into pieces of at most this many words, each extracted as a
                sentence of its own: the cost stays linear in the text's length (relation
                candidates grow with the square of a sentence's entities), and no relation is found
                across two pieces. 128 is above every sentence of CoNLL04 (114 words), SciERC and
                ADE. Word lists are the documents you chose and stay whole (long ones are encoded
                in stitched windows).
        """
        check_switch("flat_ner", flat_ner, none_too=True)
        flat = (self.config.flat_ner if flat_ner is None else flat_ner) and entities is None
        prepared = prepare_texts(texts, entities, self.types, self.config, max_sentence_words)
        default_size, default_pieces = self.engine.extract_batching
        predicted = predict_documents(self.engine, prepared.documents,
                                      batch_size=default_size if batch_size is None else batch_size,
                                      batch_pieces=default_pieces if batch_pieces is None else batch_pieces,
                                      relations=relations,
                                      progress=progress, flat=flat, given=prepared.given, desc="extract",
                                      calibration=self.calibration, **self.threshold_arguments(threshold))
        return prepared.results(predicted)
