"""Label Studio's ML backend protocol on the extraction service, so that a Label Studio project
takes `spertmt serve` as its model (Settings > Model > Connect model, the service's URL) and shows
each task's extractions as a prediction to correct:

    POST /setup    {"project": ..., "schema": "<View>...</View>", ...}  -> {"model_version": ...}
    POST /predict  {"tasks": [{"id": 1, "data": {"text": ...}}, ...], "label_config": "<View>...</View>"}
                   -> {"results": [{"result": [...], "score": ..., "model_version": ...}, ...], "model_version": ...}

The labeling config names where the text is and what the regions and relations are called: its
first `<Labels name="N" toName="T">`, the `<Text name="T" value="$key">` it points at (the task's
`data[key]`), and the `<Label value>` and `<Relation value>` lists, the only types a prediction
keeps. Without a config, the relation-extraction template's names (`label`, `text`) and every type.
Imports no torch.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any

from ..data.convert import LABEL_STUDIO_NAMES
from ..inference.texts import lone_surrogate


class LabelStudioError(ValueError):
    """A request that does not follow the protocol; `field` names the part."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class LabelConfig:
    """What a project's labeling config tells a prediction."""

    names: dict[str, str]  # the regions' from_name and to_name
    text_key: str  # where a task's data holds the text
    entity_types: frozenset[str] | None  # the config's labels; None: take every type
    relation_types: frozenset[str] | None


def parse_label_config(xml: str | None) -> LabelConfig:
    """The names and types of a labeling config (module docstring)."""
    if not xml:
        return LabelConfig(dict(LABEL_STUDIO_NAMES), "text", None, None)
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise LabelStudioError(f"the labeling config is not XML: {error}", "label_config") from None
    labels = next(root.iter("Labels"), None)
    if labels is None or not labels.get("name") or not labels.get("toName"):
        raise LabelStudioError("the labeling config has no <Labels name=... toName=...>: spans are labelled with "
                               "one (the relation-extraction template's)", "label_config")
    text = next((t for t in root.iter("Text") if t.get("name") == labels.get("toName")), None)
    key = (text.get("value") or "$text").lstrip("$") if text is not None else "text"
    relation_values = frozenset(r.get("value") for r in root.iter("Relation") if r.get("value"))
    return LabelConfig({"from_name": labels.get("name"), "to_name": labels.get("toName")}, key,
                       frozenset(label.get("value") for label in labels.iter("Label") if label.get("value")),
                       relation_values)


def parse_predict(payload: Any) -> tuple[list[str], LabelConfig]:
    """(each task's text, the config) of a /predict body, or a LabelStudioError naming the part."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tasks"), list):
        raise LabelStudioError("the body must be a JSON object with 'tasks' (Label Studio's /predict)", "tasks")
    tasks = payload["tasks"]
    config = parse_label_config(payload.get("label_config"))
    texts = []
    for i, task in enumerate(tasks):
        data = task.get("data") if isinstance(task, dict) else None
        text = data.get(config.text_key) if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise LabelStudioError(f"tasks[{i}] has no text in data[{config.text_key!r}] (the labeling config's "
                                   f"<Text value=\"${config.text_key}\">)", f"tasks[{i}]")
        if lone_surrogate(text) is not None:  # in a batch it would fail every request beside it
            raise LabelStudioError(f"tasks[{i}] holds a lone surrogate (a bad \\ud8xx escape)", f"tasks[{i}]")
        texts.append(text)
    return texts, config


def predictions(results: list, config: LabelConfig, model_version: str) -> list[dict]:
    """One prediction per task's extraction, as the labeling config names and allows its items."""
    return [{**result.labelstudio_prediction(config.names, config.entity_types, config.relation_types),
             "model_version": model_version} for result in results]
