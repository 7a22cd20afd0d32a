"""The whole model as ONNX for the runtime without torch (spertmt.inference.portable): the encoder
(`export_encoder`, and an int8 copy smoothed on training sentences: quantize.py), and two graphs of
the heads, each with its decision rule inside:

- `entities.onnx`: max-pooled span features, span widths and [CLS] -> span representations c(s),
  type scores p(s), and per span the best type, its score, its probability and a gate (the head's
  own decision before θ: SpERT's "none" class, or always open for a thresholded head);
- `relations.onnx`: the parts of a pair's input (head c, context, tail c, and the entity type scores
  where the model feeds them) -> per pair and type a score, a probability and a gate (single-label
  heads keep the best type only).

What stays outside the graphs is the same for both runtimes and written once in numpy (portable.py):
tokenisation, max pooling over piece ranges, `score >= θ`, building pairs, decoding. Max pooling over
ranges of varying length has no ONNX operator (a graph would need a loop, or a [B, S, L, H] copy of
the hidden states), and a custom operator would tie the runtime to our build: numpy's
`maximum.reduceat` pools every range in one pass instead.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import torch

from .._version import __version__
from ..files import atomic_folder, give_default_permissions, is_written_for
from ..layout import MANIFEST_FORMAT, ModelFiles
from ..model import packed
from ..model.encoder import own_code_files, position_limit
from .engines.onnx import CPU_DISABLED_OPTIMIZERS
from .int8_check import INT8_TOLERANCE, dev_documents, f1_on, losses
from .portable import load_portable, release_numbers
from .quantize import CALIBRATION_SENTENCES, ffn_output_nodes, quantize_encoder, quiet_tools
from .runtimes import ONNX_EXTRA, ONNX_FILES, _onnxruntime

# Opset 23 has Attention: the exporter writes each layer's scaled dot-product attention as one operator,
# which ONNX Runtime (1.23 and later) runs in one kernel instead of a chain of small ones (reshapes,
# transposes, masking, softmax; docs/faster.md, "One operator for attention").
ENCODER_OPSET = 23
ONNXRUNTIME_NEEDED = "1.23"  # the first release that runs opset 23's Attention; the manifest names it


class _EntityGraph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pooled: torch.Tensor, widths: torch.Tensor, cls: torch.Tensor):
        model = self.model
        c = model.span_representations(pooled, widths)
        ident, outputs, type_scores = model.score_entities(c, cls)
        gate, types, scores = model.entity_head.best_type(outputs, float("-inf"))
        probabilities = model.entity_head.probabilities(ident, outputs).gather(-1, types.unsqueeze(-1))[..., 0]
        return c, type_scores, gate, types, scores, probabilities


class _RelationGraph(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, head: torch.Tensor, context: torch.Tensor, tail: torch.Tensor, head_types: torch.Tensor,
                tail_types: torch.Tensor):
        model = self.model
        ident, outputs = model.relation_head(model.relation_parts(head, context, tail, head_types, tail_types))
        gate, scores = model.relation_head.kept_types(outputs, float("-inf"), model.config.multi_label_relations)
        return gate, scores, model.relation_head.probabilities(ident, outputs)


def _export(module: torch.nn.Module, example: tuple, names: list[str], outputs: list[str], shapes: dict,
            path: Path) -> None:

    with torch.no_grad(), quiet_tools():
        program = torch.onnx.export(module.eval(), example, input_names=names, output_names=outputs,
                                    dynamic_shapes=shapes, dynamo=True, verbose=False)
    program.save(str(path), external_data=False)


def export_heads(model, pad_id: int, folder: Path, int8: dict | None = None) -> None:
    """Writes entities.onnx, relations.onnx and manifest.json into `folder` (fp32; the heads are
    small: int8 is for the encoder); `pad_id`: the tokenizer's; `int8`: how the int8 encoder was
    made (quantize.quantize_encoder's account), for the manifest."""
    hidden = model.encoder.config.hidden_size
    width = model.width_embedding.embedding_dim
    num_e = len(model.types.entities)
    # Sizes of 3 and more: a dimension of size 0 or 1 would be fixed as a constant by the exporter.
    batch, spans, pairs = torch.export.Dim("batch"), torch.export.Dim("spans"), torch.export.Dim("pairs")
    example = (torch.randn(3, 5, hidden), torch.randint(1, 4, (3, 5)), torch.randn(3, hidden))
    _export(_EntityGraph(model), example, ["pooled", "widths", "cls"],
            ["c", "type_scores", "gate", "types", "scores", "probabilities"],
            {"pooled": {0: batch, 1: spans}, "widths": {0: batch, 1: spans}, "cls": {0: batch}},
            folder / ModelFiles.ENTITY_GRAPH)
    d = hidden + width
    example = (torch.randn(7, d), torch.randn(7, hidden), torch.randn(7, d), torch.randn(7, num_e),
               torch.randn(7, num_e))
    names = ["head", "context", "tail", "head_types", "tail_types"]
    _export(_RelationGraph(model), example, names, ["gate", "scores", "probabilities"],
            {name: {0: pairs} for name in names}, folder / ModelFiles.RELATION_GRAPH)
    manifest = {
        "format": MANIFEST_FORMAT, "spertmt": __version__, "torch": torch.__version__,
        "graphs": {"encoder": {"fp32": ModelFiles.ENCODER_ONNX, "int8": ModelFiles.ENCODER_ONNX_INT8},
                   "entities": ModelFiles.ENTITY_GRAPH, "relations": ModelFiles.RELATION_GRAPH},
        "tokenizer": f"{ModelFiles.TOKENIZER}/tokenizer.json",
        "pad_id": pad_id,
        # What the runtime decides outside the graphs, as the PyTorch model does (SpERTMT._decide).
        "window": model.window,
        "entity_thresholded": model.entity_head.thresholded,
        "relation_thresholded": model.relation_head.thresholded,
        "uses_entity_logits": bool(model.use_entity_logits),
        "int8": int8 or {"method": "unknown"},
        "onnxruntime": ONNXRUNTIME_NEEDED,
    }
    write_manifest(folder, manifest)


def write_manifest(folder: Path, manifest: dict) -> None:
    """`manifest` into `folder` with the size of every file the runtime reads, as they are now: checked
    when the folder loads, so that a graph cut short by a failed copy is named, not left to fail inside
    ONNX Runtime (thresholds.json is not among them: tune-threshold may rewrite it)."""
    needed = [*manifest["graphs"]["encoder"].values(), manifest["graphs"]["entities"], manifest["graphs"]["relations"],
              manifest["tokenizer"], ModelFiles.CONFIG, ModelFiles.TYPES]
    manifest["files"] = {name: (folder / name).stat().st_size for name in needed}
    (folder / ModelFiles.MANIFEST).write_text(json.dumps(manifest, indent=2))


class _LastHiddenState(torch.nn.Module):
    """The encoder as one tensor in, one out: what the ONNX graph computes; `packs`: the position-wise
    layers on the real pieces only (model.packed) where the architecture allows, as PyTorch runs it."""

    def __init__(self, encoder: torch.nn.Module, packs: bool):
        super().__init__()
        self.encoder, self.packs = encoder, packs

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.packs:
            return packed.hidden_states(self.encoder, input_ids, attention_mask)
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def check_export_tools() -> None:
    """The packages export needs, at releases that write and run opset 23's Attention: else one
    named line with what to install (an older ONNX Runtime fails inside the int8 encoder's smoothing,
    an older onnx inside the exporter, each with its own message)."""
    ort = _onnxruntime()
    if release_numbers(ort.__version__) < release_numbers(ONNXRUNTIME_NEEDED):
        raise ValueError(f"exporting to ONNX needs onnxruntime {ONNXRUNTIME_NEEDED} or later (opset "
                         f"{ENCODER_OPSET}'s Attention); this is {ort.__version__}: "
                         f"pip install -U 'onnxruntime>={ONNXRUNTIME_NEEDED}'")
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError:
        raise ValueError(f"exporting to ONNX needs onnx and onnxscript: {ONNX_EXTRA}") from None
    if onnx.defs.onnx_opset_version() < ENCODER_OPSET:
        raise ValueError(f"exporting to ONNX needs onnx 1.18 or later (opset {ENCODER_OPSET}); this is "
                         f"{onnx.__version__}: pip install -U 'onnx>=1.18'")


def export_encoder(encoder: torch.nn.Module, path: Path, packs: bool = True) -> None:
    """Writes `encoder` as ONNX (one file, weights inside) with dynamic batch and length; packed
    (`packs`) or padded, as transformers runs it. The graph is kept only where ONNX Runtime computes
    with it what PyTorch computes (`_differs_from_pytorch`). Where the exporter's fusions made a node
    that runs otherwise (ModernBERT's rotary embedding became a RotaryEmbedding node whose cos and sin
    have a batch of 1, which ONNX Runtime refuses at any other batch), the encoder is exported again
    with constant folding only, without the fusions."""
    import onnxscript.optimizer

    check_export_tools()
    encoder = _LastHiddenState(encoder, packs).eval()
    # Two rows of four pieces: no dimension of size 0 or 1, which the exporter would fix as constant.
    example = (torch.full((2, 4), 100, dtype=torch.long), torch.ones(2, 4, dtype=torch.long))
    batch = torch.export.Dim("batch")
    length = torch.export.Dim("length", max=position_limit(encoder.encoder))
    shapes = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    for fused in (True, False):
        with torch.no_grad(), quiet_tools():
            program = torch.onnx.export(encoder, example, input_names=["input_ids", "attention_mask"],
                                        output_names=["last_hidden_state"], dynamic_shapes=shapes, dynamo=True,
                                        opset_version=ENCODER_OPSET, optimize=fused, verbose=False)
            if not fused:  # what optimize=True does but its fusions (torch.onnx's optimize)
                onnxscript.optimizer.optimize_ir(program.model)
        program.save(str(path), external_data=False)
        problem = _differs_from_pytorch(encoder, path)
        if problem is None:
            return
    raise ValueError(f"the encoder ({type(encoder.encoder).__name__}) does not export to ONNX faithfully: {problem}; "
                     "its model runs with the PyTorch runtime (--runtime torch)")


def _differs_from_pytorch(encoder: _LastHiddenState, path: Path) -> str | None:
    """None where ONNX Runtime, running the graph at `path` as both runtimes do, gives `encoder`'s hidden
    states at every real piece of a padded batch of a shape other than the export's example; else what
    differs."""
    import numpy as np

    ort = _onnxruntime()
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, getattr(encoder.encoder.config, "vocab_size", 1000), (3, 7), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 3:], attention_mask[2, 5:] = 0, 0
    with torch.no_grad():
        expected = encoder(input_ids, attention_mask).numpy()
    options = ort.SessionOptions()
    options.log_severity_level = 4  # the failure is reported here, not logged by ONNX Runtime as well
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=CPU_DISABLED_OPTIMIZERS)  # as extraction runs it
        got = session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]
    except Exception as error:  # ONNX Runtime's errors share no base class but Exception
        return f"ONNX Runtime cannot run its graph ({str(error).strip().splitlines()[0][:300]})"
    real = attention_mask.numpy().astype(bool)
    difference = float(np.abs(got[real] - expected[real]).max())
    if difference > 1e-3 * max(1.0, float(np.abs(expected[real]).max())):
        return f"ONNX Runtime's hidden states differ from PyTorch's by up to {difference:.3g}"
    return None


def export_onnx(model_folder: str | Path, output: str | Path, data: str | Path | None = None,
                int8_tolerance: float | None = INT8_TOLERANCE, progress: bool = False,
                trust_remote_code: bool = False) -> Path:
    """Writes `output`: a copy of the model folder with its encoder as `encoder.onnx` and
    `encoder-int8.onnx` and its heads as `entities.onnx` and `relations.onnx` with `manifest.json`
    (`export_heads`), loadable with `load(output, runtime="onnx")`, which then needs no torch
    (spertmt.inference.portable), and as before with PyTorch. `output` may be `model_folder` itself:
    the ONNX files are added to it. The int8 encoder is smoothed on the model's training sentences
    where its training set can be read here (`training_sentences`), else quantised without; then
    checked on the dev set `data` (default: the model's own, int8_check.dev_documents) against
    fp32, and written again with its feed-forward output layers in fp32 where it loses more than
    `int8_tolerance` F1 points (`choose_int8`; None: no check); `progress`: a line for each stage
    and a bar over each pass of the check. `trust_remote_code`: run the encoder's own code where the
    folder has some (folder.load_model); the exported graphs run without it."""
    from ..data.batching import Collator
    from ..model.folder import load_model, load_tokenizer_from

    check_export_tools()
    model_folder, output = Path(model_folder), Path(output)
    model = load_model(model_folder, "cpu", trust_remote_code)  # checks the folder before anything is written
    tokenizer = load_tokenizer_from(model_folder, trust_remote_code)
    if not tokenizer.is_fast:
        raise ValueError(f"{model_folder}: its tokenizer ({type(tokenizer).__name__}) exists in Python only, and the "
                         "runtime without torch reads a tokenizer.json (the tokenizers library): this model runs "
                         "with PyTorch (--runtime torch)")
    if own_code_files(model_folder / ModelFiles.TOKENIZER):
        print(f"spertmt export: the tokenizer of {model_folder} has Python code of its own (tokenizer/), which the "
              "runtime without torch does not run: it reads tokenizer.json as the tokenizers library does",
              file=sys.stderr)
    pad_id = Collator.for_tokenizer(tokenizer).pad_id
    sentences = training_sentences(model, tokenizer)
    if sentences is None:
        print(f"spertmt export: the training set of {model_folder} ({model.config.train_path}) cannot be read "
              "here, so the int8 encoder is quantised without smoothing (it loses more F1: docs/faster.md)",
              file=sys.stderr)
    documents = None if int8_tolerance is None else dev_documents(model.config, model.types, data)
    if int8_tolerance is not None and documents is None:
        print(f"spertmt export: {model_folder} names no dev set that can be read here, so the int8 encoder's F1 is "
              "not checked against fp32's (give one with --data)", file=sys.stderr)

    def write(folder: Path) -> None:
        say = print if progress else (lambda *_, **__: None)
        say("spertmt export: writing the encoder (fp32, and int8) and the heads as ONNX", file=sys.stderr)
        export_heads(model, pad_id, folder, write_onnx_files(model.encoder, folder, sentences))
        if documents:
            say(f"spertmt export: checking the int8 encoder against fp32 on {len(documents)} dev documents",
                file=sys.stderr)
            choose_int8(model, folder, sentences, documents, int8_tolerance, progress)

    if output.exists() and output.resolve() == model_folder.resolve():
        write(output)
    else:
        with atomic_folder(output, markers=ModelFiles.MARKERS) as tmp:
            shutil.copytree(model_folder, tmp, dirs_exist_ok=True, ignore=_the_output(output))
            if (tmp / ModelFiles.WEIGHTS).exists():  # a folder written before weights got the umask's mode
                give_default_permissions(tmp / ModelFiles.WEIGHTS)
            write(tmp)
    return output


def choose_int8(model, folder: Path, sentences: list[list[int]] | None, documents: list, tolerance: float,
                progress: bool = False) -> dict:
    """Checks the int8 encoder of the exported `folder` against its fp32 one on `documents` (dev);
    where it loses more than `tolerance` F1 points on NER or RE+, writes it again with the
    feed-forward output layers in fp32 (one linear layer in six: of the int8 encoders measured, the
    one whose worst loss over three CoNLL04 models was smallest, docs/faster.md) and keeps the
    encoder that loses less.
    Records the check in the manifest ("int8": "dev_check") and returns it."""
    import onnx

    fp32 = f1_on(load_portable(folder, "fp32"), documents, progress)
    f1 = f1_on(load_portable(folder, "int8"), documents, progress)
    tried = [{"fp32_layers": 0, "f1": f1, "loss": losses(fp32, f1)}]
    manifest = json.loads((folder / ModelFiles.MANIFEST).read_text())
    if max(tried[0]["loss"].values()) > tolerance:
        int8, first = folder / ONNX_FILES["int8"], folder / (ONNX_FILES["int8"] + ".first.tmp")
        padded = folder / (ONNX_FILES["fp32"] + ".padded.tmp")
        try:
            export_encoder(model.encoder, padded, packs=False)
            config = model.encoder.config
            nodes = ffn_output_nodes(onnx.load(str(padded), load_external_data=False).graph,
                                     getattr(config, "intermediate_size", -1), config.hidden_size)
            if nodes:
                int8.replace(first)
                quantize_encoder(padded, int8, sentences, nodes)
                write_manifest(folder, manifest)
                f1 = f1_on(load_portable(folder, "int8"), documents, progress)
                tried.append({"fp32_layers": len(nodes), "f1": f1, "loss": losses(fp32, f1)})
                if max(tried[1]["loss"].values()) < max(tried[0]["loss"].values()):
                    first.unlink()  # the new one loses less: it stays
        finally:
            if first.exists():  # no better, or writing it failed: the faster one stays
                first.replace(int8)
                write_manifest(folder, manifest)
            padded.unlink(missing_ok=True)
    chosen = min(tried, key=lambda t: (max(t["loss"].values()), t["fp32_layers"]))
    check = {"documents": len(documents), "tolerance": tolerance, "fp32": fp32, **chosen,
             "within_tolerance": max(chosen["loss"].values()) <= tolerance, "tried": tried}
    manifest["int8"]["dev_check"] = check
    write_manifest(folder, manifest)
    return check


def _the_output(output: Path):
    """copytree's `ignore` for a model folder that holds `output` (`export M M/onnx`): the output
    and what writing it leaves beside it are not copied into it (each export would otherwise hold
    the one before, nested, and a copy of its own temporary)."""
    output = output.resolve()

    def ignore(folder: str, names: list[str]) -> list[str]:
        if Path(folder).resolve() != output.parent:
            return []
        return [name for name in names if is_written_for(name, output)]

    return ignore


def training_sentences(model, tokenizer, count: int = CALIBRATION_SENTENCES) -> list[list[int]] | None:
    """The piece ids (special tokens included, cut to the encoder's window) of the first `count`
    sentences of the model's training set, which set the int8 encoder's smoothing; None where that
    set cannot be read on this machine (a model from the hub, data moved)."""
    from ..data.documents import DataError, read_documents
    from ..data.encoding import encode_word_lists

    try:
        documents = read_documents(model.config.data_path("train_path"), model.types)
    except (DataError, OSError, ValueError):
        return None
    chosen = [d.tokens for d in documents if d.tokens][:count]
    return [list(e.input_ids[:model.window]) for e in encode_word_lists(tokenizer, chosen)] or None


def write_onnx_files(encoder: torch.nn.Module, folder: Path, sentences: list[list[int]] | None = None) -> dict:
    """Both ONNX files (ONNX_FILES) into `folder`, each renamed into place only when both are
    complete: the fp32 encoder packed; the int8 one quantised from the padded graph (quantised
    packed, it lost more RE+ F1 on two of three dev sets: docs/faster.md) and smoothed on
    `sentences` where given (quantize.quantize_encoder). Returns how the int8 encoder was made."""
    temporary = {precision: folder / (name + ".tmp") for precision, name in ONNX_FILES.items()}
    # an encoder that is not packed has one graph: quantise it, not a second export of it
    padded = folder / (ONNX_FILES["fp32"] + ".padded.tmp") if packed.packs(encoder) else temporary["fp32"]
    try:
        export_encoder(encoder, temporary["fp32"])
        if padded != temporary["fp32"]:
            export_encoder(encoder, padded, packs=False)
        made = quantize_encoder(padded, temporary["int8"], sentences)
        for precision, path in temporary.items():
            path.replace(folder / ONNX_FILES[precision])
    finally:
        for path in [*temporary.values(), padded]:
            path.unlink(missing_ok=True)
    return made
