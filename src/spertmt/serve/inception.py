"""INCEpTION's external recommender protocol on the extraction service, so that an INCEpTION project
takes `spertmt serve` as a recommender of a span layer (Project settings > Recommenders > Create,
tool "External recommender", remote URL `http://HOST:PORT/inception`) and shows the entities the
model finds as suggestions to accept or reject while annotating:

    POST /inception/predict  {"metadata": {"layer": ..., "feature": ..., ...},
                              "document": {"xmi": "<xmi:XMI ...>", ...}, "typeSystem": "<typeSystemDescription ...>"}
                             -> {"document": "<xmi:XMI ...>"}
    POST /inception/train    -> 204 (the model learns from `spertmt train`, not from INCEpTION's documents)

The model reads INCEpTION's own sentences and tokens (each sentence's tokens are its words; the
sentences that meet the metadata's `range`, the part INCEpTION asks for), and each entity it finds
becomes an annotation of the layer over its tokens' characters: its type the feature's value, its
probability the feature's score (`<feature>_score`, where the layer has it), marked as a prediction
(`inception_internal_predicted`). INCEpTION's external recommenders suggest spans only: relations
are not suggested (`predict --output-format webanno` carries both, to import).
Reads and writes INCEpTION's documents (UIMA CAS XMI) with dkpro-cassis, INCEpTION's own Python
library for them (`pip install dkpro-cassis`, the extra `spertmt[inception]`). Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..data.text import utf16_offsets

SENTENCE = "de.tudarmstadt.ukp.dkpro.core.api.segmentation.type.Sentence"
TOKEN = "de.tudarmstadt.ukp.dkpro.core.api.segmentation.type.Token"
PREDICTED = "inception_internal_predicted"  # the feature INCEpTION reads a suggestion by


class InceptionError(ValueError):
    """A request that does not follow the protocol; `field` names the part."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass
class Document:
    """A document INCEpTION sent, and where its suggestions go."""

    cas: Any  # cassis.Cas
    layer: str
    feature: str
    words: list[list[tuple[int, int]]]  # each sentence's tokens' characters (of the sentences with tokens)


def parse_predict(payload: Any) -> tuple[list[list[str]], Document]:
    """(each sentence's words, the document) of a /inception/predict body, or an InceptionError naming the part."""
    if not isinstance(payload, dict):
        raise InceptionError("the body must be a JSON object with 'metadata', 'document' and 'typeSystem' "
                             "(INCEpTION's external recommender)", "body")
    metadata, document, typesystem_xml = payload.get("metadata"), payload.get("document"), payload.get("typeSystem")
    if not isinstance(metadata, dict) or not all(isinstance(metadata.get(k), str) for k in ("layer", "feature")):
        raise InceptionError("'metadata' must name the 'layer' and the 'feature' to predict", "metadata")
    if not isinstance(document, dict) or not isinstance(document.get("xmi"), str):
        raise InceptionError("'document' must hold the document as CAS XMI in 'xmi'", "document")
    if not isinstance(typesystem_xml, str):
        raise InceptionError("'typeSystem' must be the document's type system (XML)", "typeSystem")
    try:
        from cassis import load_cas_from_xmi, load_typesystem
    except ImportError:
        raise InceptionError("INCEpTION's documents are read with dkpro-cassis, which is not installed: pip install "
                             "dkpro-cassis", "document") from None
    try:
        typesystem = load_typesystem(typesystem_xml)
    except Exception as error:  # lxml's and cassis's own errors
        raise InceptionError(f"'typeSystem' cannot be read: {error}", "typeSystem") from None
    try:
        cas = load_cas_from_xmi(document["xmi"], typesystem=typesystem)
    except Exception as error:
        raise InceptionError(f"'document.xmi' cannot be read as a CAS of that type system: {error}",
                             "document") from None
    layer, feature = metadata["layer"], metadata["feature"]
    if not typesystem.contains_type(layer) or typesystem.get_type(layer).get_feature(feature) is None:
        raise InceptionError(f"the type system has no layer {layer!r} with a feature {feature!r}", "metadata")
    wanted = _in_range(metadata.get("range"), cas.sofa_string or "")
    words, texts = [], []
    if typesystem.contains_type(SENTENCE) and typesystem.contains_type(TOKEN):
        for sentence in cas.select(SENTENCE):
            tokens = [(t.begin, t.end) for t in cas.select_covered(TOKEN, sentence) if t.end > t.begin]
            if tokens and wanted(sentence.begin, sentence.end):
                words.append(tokens)
                texts.append([cas.sofa_string[begin:end] for begin, end in tokens])
    return texts, Document(cas, layer, feature, words)


def _in_range(given: Any, text: str):
    """Whether a sentence (its characters) meets the part of the document INCEpTION asks for (metadata's
    `range`, in UTF-16 units as Java counts them; without one, all of it)."""
    if not (isinstance(given, dict) and all(isinstance(given.get(k), int) for k in ("begin", "end"))):
        return lambda begin, end: True
    units = utf16_offsets(text)
    return lambda begin, end: units[begin] < given["end"] and units[end] > given["begin"]


def suggestions(results: list, document: Document) -> dict:
    """The document with each extracted entity as a suggestion of its layer (module docstring)."""
    layer = document.cas.typesystem.get_type(document.layer)
    score = f"{document.feature}_score"
    for result, words in zip(results, document.words):
        for e in result.entities:
            fields = {"begin": words[e.token_start][0], "end": words[e.token_end - 1][1], document.feature: e.type}
            if layer.get_feature(PREDICTED) is not None:
                fields[PREDICTED] = True
            if layer.get_feature(score) is not None and e.probability is not None:
                fields[score] = float(e.probability)
            document.cas.add(layer(**fields))
    return {"document": document.cas.to_xmi()}
