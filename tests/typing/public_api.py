"""A user's script against spertmt's public API; tests/test_typing.py type-checks it with mypy
(the package ships py.typed). Not run, only checked: every line must type-check, and the
`reveal_type`-free assignments below pin what the API returns."""

from __future__ import annotations

import spertmt
from spertmt import BatchPredictor, Config, Document, ExtractedEntity, ExtractedRelation, Extraction, Extractor


def extract_names(folder: str) -> list[tuple[str, str, int | None]]:
    extractor: Extractor = spertmt.load(folder, device="cpu", precision="auto")
    results: list[Extraction] = extractor.extract(["John Smith works for Acme Corp."], batch_size=8)
    entities: list[ExtractedEntity] = results[0].entities
    relations: list[ExtractedRelation] = results[0].relations
    heads = [entities[r.head].text for r in relations]
    assert len(heads) == len(relations)
    return [(e.text, e.type, e.start) for e in entities]


def train_small(output: str) -> float:
    config: Config = Config(epochs=1).override(["batch_size=2"])
    metrics: dict = spertmt.train(config, output, progress=False)
    documents: list[Document] = spertmt.read_documents("test.json")
    predictions: list[Document] = spertmt.load(output + "/best").predict(documents)
    scores: dict = spertmt.evaluate(documents, predictions, spertmt.read_types("types.json"))
    return float(scores["ner"]["micro"]["f1"]) + float(metrics["re"]["micro"]["f1"])


def share(folder: str) -> str:
    extractor = spertmt.load(folder)
    extractor.save_pretrained("copy", license="mit")
    return extractor.push_to_hub("me/model", private=True)


def without_torch(folder: str) -> int:
    extractor: spertmt.ExtractorLike = spertmt.load(folder, runtime="onnx")
    either: spertmt.ExtractorLike = spertmt.load(folder)  # an Extractor is one too
    return len(extractor.extract("Mary lives in Paris.")[0].entities) + len(either.predict([]))


predictor: BatchPredictor = BatchPredictor("runs/demo/best", device="cpu", batch_size=16)
