"""Model folders on the Hugging Face Hub: a model card, and pushing a folder (a repo id is resolved
to a local folder through the hub's cache by spertmt.repos, which needs no torch).

    spertmt.load("org/name")               # downloads once into the hub's cache, then reads it there
    extractor.save_pretrained("my-model")  # a model folder with a model card (README.md)
    extractor.push_to_hub("org/name")      # the same folder, uploaded

The hub's own library (huggingface_hub) does the downloading, caching and uploading; with
`HF_HUB_OFFLINE=1` a repo id is read from the cache without any network. A repo holds exactly a
model folder (spertmt.model.folder), so a downloaded snapshot loads like any local folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .._version import __version__
from ..evaluate import scored_settings
from ..layout import ModelFiles, metrics_file_of
from ..repos import looks_like_repo_id
from .encoder import own_code_files

# ----------------------------------------------------------------------------------------------
# the model card


def _dataset_name(config) -> str | None:
    """The dataset's name as the data paths give it: "conll04/conll04_train.json" -> "conll04"."""
    path = Path(config.train_path) if config.train_path else None
    if path is None:
        return None
    return path.parent.name or path.stem.split("_")[0] or None


def run_metrics(source: Path) -> tuple[dict | None, str]:
    """The test metrics of the run a model folder came from (`<run>/best` -> `<run>/metrics.json`,
    `<run>/last` -> `metrics_last.json`), and which checkpoint they describe."""
    found = metrics_file_of(source)
    if found is None or not found[0].exists():
        return None, ""
    try:
        return json.loads(found[0].read_text(encoding="utf-8")), found[1]
    except ValueError:
        return None, ""


def model_card(
    config,
    types,
    metrics: dict | None = None,
    checkpoint: str = "",
    language: str | list[str] | None = None,
    license: str | None = None,
    datasets: list[str] | None = None,
    repo_id: str | None = None,
    own_code: tuple[str, ...] = (),
):
    """A `huggingface_hub.ModelCard` for a model: the hub's metadata block (library, task, language,
    datasets, test metrics as model-index) and a page saying what the model extracts and how to load it.
    `language` defaults to English for the offline default encoder (English MiniLM), else is left out.
    `own_code`: the model folder's parts that hold Python code of its own (encoder, tokenizer)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    if language is None and config.encoder.startswith("offline:"):
        language = "en"
    dataset = _dataset_name(config)
    datasets = datasets if datasets is not None else ([dataset] if dataset else None)
    name = repo_id.split("/")[-1] if repo_id else f"spertmt-{dataset or 'model'}"
    labels = {"ner": "NER", "re": "RE (boundaries)", "re_strict": "RE+ (strict)"}
    average = "macro" if config.num_folds > 1 else "micro"  # ADE's cross-validation reports macro
    results = []
    metrics = metrics or {}
    scored = scored_settings(metrics)  # an entities-only model publishes no relation F1
    for key, label in labels.items():
        if key in scored:
            results.append(EvalResult(
                task_type="token-classification", task_name=f"Joint entity and relation extraction: {label}",
                dataset_type=dataset or "custom", dataset_name=dataset or "custom", dataset_split="test",
                metric_type="f1", metric_name=f"{label} {average} F1",
                metric_value=round(metrics[key][average]["f1"], 2)))
    data = ModelCardData(
        model_name=name, library_name="spertmt", pipeline_tag="token-classification", language=language,
        license=license, datasets=datasets, base_model=_base_model(config.init_model) or _base_model(config.encoder),
        tags=["spertmt", "relation-extraction", "named-entity-recognition", config.mode],
        eval_results=results or None)
    load_name = repo_id or "PATH/TO/THIS/FOLDER"
    # an encoder or tokenizer with its own code (the folders named in own_code) loads only with the user's consent
    consent, flag = (", trust_remote_code=True", " --trust-remote-code") if own_code else ("", "")
    code_note = (f"\nThis model runs Python code of its own, which this repo holds in "
                 f"{' and '.join(f'`{part}/`' for part in own_code)}: read it before you load the model with\n"
                 "`trust_remote_code=True`.\n" if own_code else "")
    table = "\n".join(f"| {labels[k]} | {metrics[k][average]['precision']:.2f} | {metrics[k][average]['recall']:.2f} "
                      f"| {metrics[k][average]['f1']:.2f} |" for k in labels if k in scored)
    scores = (f"Test set of {dataset or 'the training data'} ({average} average), {checkpoint}:\n\n"
              f"| task | P | R | F1 |\n| --- | --- | --- | --- |\n{table}\n") if table else \
        "No test metrics were found beside this model folder.\n"
    mode = "SpERT.MT (multi-task heads)" if config.mode == "spertmt" else "SpERT (the baseline)"
    text = f"""---
{data.to_yaml()}
---

# {name}

A joint entity and relation extractor trained with spertmt (`pip install spertmt`): {mode} on the
encoder {_encoder_name(config.encoder)}{_started_from(config)}{f', trained on {dataset}' if dataset else ''}.

- Entity types: {', '.join(t.name for t in types.entities)}
- Relation types: {', '.join(t.name for t in types.relations)}

## Use
{code_note}
```python
import spertmt

extractor = spertmt.load("{load_name}"{consent})
result = extractor.extract("John Smith works for Acme Corp in Berlin.")[0]
print([(e.text, e.type) for e in result.entities], [(r.head, r.type, r.tail) for r in result.relations])
```

or `spertmt predict --model {load_name} --input texts.txt --output results.jsonl{flag}`.

## Results

{scores}
## Training

`config.json` in this repo is the full configuration; with the datasets under `DATA`:

```
spertmt train --config config.json --set data_root=DATA --output runs/retrain
```

Written by spertmt {__version__}.
"""
    return ModelCard(text)


def _encoder_name(encoder: str) -> str:
    base = _base_model(encoder)
    return f"`{base}`" if base else f"a local encoder (`{Path(encoder).name}`)"


def _started_from(config) -> str:
    """Where training started from another spertmt model (init_model), the words that say which (a
    hub repo by its id; a local folder's path is not published)."""
    if not config.init_model:
        return ""
    hub = _base_model(config.init_model)
    return f", starting from the spertmt model `{hub}`" if hub else ", starting from a local spertmt model"


def _base_model(encoder: str) -> str | None:
    """The hub id of an encoder (or of the model training started from), where it is one (the offline
    default is all-MiniLM-L6-v2's)."""
    if not encoder:
        return None
    if encoder.startswith("offline:"):
        return "sentence-transformers/" + encoder.split(":", 1)[1]
    return encoder if looks_like_repo_id(encoder) and not Path(encoder).exists() else None


def write_model_card(folder: Path, source: Path | None, config, types, **card) -> None:
    """README.md of a model folder being saved from `source`: a new card with the run's test metrics
    when they lie beside `source`; else `source`'s own card (a model downloaded from the hub keeps its
    page); else a new card without metrics. `card`: model_card's keywords."""
    metrics, checkpoint = run_metrics(source) if source is not None else (None, "")
    if metrics is None and source is not None and (source / ModelFiles.CARD).exists():
        shutil.copyfile(source / ModelFiles.CARD, folder / ModelFiles.CARD)
        return
    parts = (ModelFiles.ENCODER_CODE, ModelFiles.TOKENIZER)
    own_code = tuple(part for part in parts if own_code_files(folder / part))
    model_card(config, types, metrics, checkpoint, own_code=own_code, **card).save(folder / ModelFiles.CARD)


def check_can_push(repo_id: str) -> None:
    """Refuses a push that cannot work, before anything is saved: offline, or not a repo id."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise OSError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set (pushing needs the network)")
    if not looks_like_repo_id(repo_id):
        raise ValueError(f"{repo_id!r} is not a hub repo id (owner/name)")


def push_folder(folder: Path, repo_id: str, private: bool | None = None, token: str | None = None,
                commit_message: str = "Upload spertmt model", revision: str | None = None) -> str:
    """Uploads a saved model folder to the hub repo `repo_id` (created if it does not exist); returns
    the commit's URL. Needs the network and a login (`hf auth login` or HF_TOKEN)."""
    from huggingface_hub import HfApi

    check_can_push(repo_id)
    api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                             commit_message=commit_message, revision=revision)
    return str(info)
