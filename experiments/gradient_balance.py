"""How strongly each head's loss pulls on the shared encoder, per mode: a diagnostic for
docs/results.md ("Why SpERT.MT trails our spert mode").

    python experiments/gradient_balance.py                         # at initialisation (seed 0)
    python experiments/gradient_balance.py --set relation_weight=0.25

For each setting, over the first `--documents` CoNLL04 training documents in batches of 2 (the
training batches' samples, negatives drawn as in training), the entity loss and the relation loss
are back-propagated separately and the L2 norm of each one's gradient over the encoder's
parameters is taken; the table gives medians over the batches (batches without a relation sample
left out of the ratios) and the ratio relation / entity, also as it would be if each head's loss
were the sum over its samples (the paper's notation) instead of SpERT's mean (docs/method.md).
Under Adam the update of a shared parameter follows the sum of the two gradients, so this ratio
says which head steers the encoder early in training. The last two columns are the median norm of
the whole loss's gradient over every parameter and the share of batches where it exceeds
max_grad_norm (1.0), i.e. where gradient clipping shortens the step: with sums (loss_reduction =
sum) that is every batch. (The "if the losses were sums" column rescales a row measured with means;
for the sums row itself it means nothing.) Writes results/diagnostics/gradient-balance.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import torch

import spertmt
import spertmt.model.spertmt as model_module
from spertmt.config import Config
from spertmt.data.batching import Collator, DocumentDataset, encode_documents
from spertmt.model.encoder import load_encoder, load_tokenizer
from spertmt.model.spertmt import SpERTMT

# Every spertmt row but the sums one uses SpERT's means (loss_reduction = "mean", the default until
# issue 21 chose sums), as when these rows were first measured.
MEANS = {"mode": "spertmt", "loss_reduction": "mean"}
SETTINGS = {
    "spert": {"mode": "spert"},
    "spertmt": MEANS,
    "spertmt -MTL": {**MEANS, "multi_task": False},
    "spertmt, p(s) detached": {**MEANS, "entity_logits_grad": False},
    # issue 21's readings (at initialisation head_lr and learned loss weights change nothing)
    "spertmt, sums (loss_reduction = sum)": {"mode": "spertmt", "loss_reduction": "sum"},
    "spertmt, ranking averaged apart (ranking_average = separate)": {**MEANS, "ranking_average": "separate"},
    "spertmt, negatives' ranking x 0.1": {**MEANS, "negative_ranking_weight": 0.1},
    "spertmt, relation_weight 0.25": {**MEANS, "relation_weight": 0.25},
}
LOSSES = ("multitask_loss", "none_class_cross_entropy", "multilabel_bce")


def capture_head_losses() -> list:
    """Wraps the model's loss functions so that each call's (undetached) value is kept: the model
    computes the entity loss first, then the relation loss."""
    captured: list = []
    for name in LOSSES:
        original = getattr(model_module, name)

        def wrapper(*args, _original=original, **kwargs):
            value = _original(*args, **kwargs)
            captured.append(value)
            return value

        setattr(model_module, name, wrapper)
    return captured


def encoder_grad_norm(model: SpERTMT) -> float:
    return torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.encoder.parameters()
                          if p.grad is not None)).item()


def measure(config: Config, train, encodings, types, tokenizer, captured: list) -> dict:
    torch.manual_seed(config.seed)
    model = SpERTMT(config, types, load_encoder(config.encoder)).train()
    cfg = model.config
    dataset = DocumentDataset(train, encodings, types, train=True, max_span_width=cfg.max_span_width,
                              neg_entity_count=cfg.neg_entity_count, neg_relation_count=cfg.neg_relation_count,
                              seed=cfg.seed)
    collate = Collator(tokenizer.pad_token_id)
    norms: dict[str, list[float]] = {"entity": [], "relation": [], "total": []}
    counts: dict[str, list[float]] = {"entity": [], "relation": []}
    for start in range(0, len(train) - 1, 2):
        batch = collate([dataset[i] for i in (start, start + 1)])
        counts["entity"].append(batch.entity_mask.sum().item())
        counts["relation"].append(batch.rel_mask.sum().item())
        for head, index in (("entity", 0), ("relation", 1)):
            model.zero_grad(set_to_none=True)
            captured.clear()
            torch.manual_seed(start)  # the same dropout masks for both heads' passes
            model(batch)
            weight = cfg.relation_weight if head == "relation" else 1.0
            (weight * captured[index]).backward()
            norms[head].append(encoder_grad_norm(model))
        # The whole loss's gradient over every parameter: what clip_grad_norm_ compares with max_grad_norm.
        model.zero_grad(set_to_none=True)
        torch.manual_seed(start)
        model(batch).loss.backward()
        norms["total"].append(torch.sqrt(sum((p.grad.double() ** 2).sum() for p in model.parameters()
                                             if p.grad is not None)).item())
    pairs = [(e, r, ce, cr) for e, r, ce, cr in zip(norms["entity"], norms["relation"], counts["entity"],
                                                     counts["relation"]) if e > 0 and cr > 0]
    return {"entity": statistics.median(norms["entity"]), "relation": statistics.median(norms["relation"]),
            "relation_over_entity": statistics.median(r / e for e, r, _, _ in pairs),
            # The paper writes each head's loss as a sum over its samples (docs/method.md normalises by
            # the sample count, as SpERT does): a sum's gradient is the count times the mean's.
            "relation_over_entity_if_sums": statistics.median(r * cr / (e * ce) for e, r, ce, cr in pairs),
            "entity_samples": statistics.median(counts["entity"]),
            "relation_samples": statistics.median(counts["relation"]), "batches": len(pairs),
            "total_norm": statistics.median(norms["total"]),
            "clipped": sum(n > cfg.max_grad_norm for n in norms["total"]) / len(norms["total"])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--documents", type=int, default=80)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an override for every setting (e.g. relation_weight=0.25)")
    parser.add_argument("--output", default="results/diagnostics/gradient-balance.json")
    parser.add_argument(
        "--settings", nargs="*", metavar="NAME", help=f"rows to measure (default: all): {list(SETTINGS)}"
    )
    args = parser.parse_args(argv)

    base = Config().override(args.set)
    root = base.data_path("train_path").parents[1]
    types = spertmt.read_types(root / "conll04" / "conll04_types.json")
    train = spertmt.read_documents(root / "conll04" / "conll04_train.json", types)[:args.documents]
    tokenizer = load_tokenizer(base.encoder)
    encodings = encode_documents(tokenizer, train)
    captured = capture_head_losses()

    rows = []
    unknown = sorted(set(args.settings or []) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {unknown}; known: {list(SETTINGS)}")
    print("| setting | encoder grad norm, entity loss | relation loss | relation / entity | samples a batch "
          "(entity, relation) | relation / entity if the losses were sums | whole gradient's norm | "
          "batches clipped |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, switches in SETTINGS.items():
        if args.settings and name not in args.settings:
            continue
        config = dataclasses.replace(base, **switches)
        row = {"setting": name, **measure(config, train, encodings, types, tokenizer, captured)}
        rows.append(row)
        print(f"| {name} | {row['entity']:.2f} | {row['relation']:.2f} | {row['relation_over_entity']:.2f} | "
              f"{row['entity_samples']:.0f}, {row['relation_samples']:.0f} | "
              f"{row['relation_over_entity_if_sums']:.2f} | {row['total_norm']:.1f} | {100 * row['clipped']:.0f} % |",
              flush=True)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "overrides": args.set,
                                  "rows": rows}, indent=1))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
