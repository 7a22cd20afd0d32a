"""Where raw-text extraction's sentence splitter cuts a sentence it should not.

    python experiments/sentence_splits.py --data conll04/conll04_dev.json \
        --model RUN/best --output results/diagnostics/sentence-splits-conll04-dev.json

The documents of CoNLL04, SciERC and ADE (SpERT JSON) are single sentences, so every cut that
`extract`'s splitter (`spertmt.data.text.split_sentences`) makes inside one of them, its words
joined by spaces, is wrong: a gold relation across such a cut cannot be extracted from raw text.
Prints the documents cut (with the words around each cut) and the gold relations across a cut;
`--wrap N` hard-wraps each text at N characters first, as text from a PDF or an e-mail comes.
With --model, also the micro F1 (NER, RE+) of extracting the documents twice: as raw text (joined
words, split into sentences and words as `extract` splits a string) and as word lists (the gold
words, never split); an entity of the raw text counts where its characters are exactly a run of
gold words. The gap is what splitting and word splitting cost together, and an upper bound of it:
CoNLL04's words keep some full stops that raw text's words do not ("Inc.", a sentence's last word
"Kosovo."), so an entity found in raw text without its full stop counts as wrong.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

from spertmt.config import Config
from spertmt.data.documents import Document, Entity, Relation, read_documents
from spertmt.data.text import joined_word_starts, split_sentences
from spertmt.evaluate import evaluate


def raw_text(document: Document, wrap: int | None) -> str:
    """The document's words joined by spaces; with `wrap`, hard-wrapped at that many characters, as
    text from a PDF or an e-mail is: a line break in place of a space, so offsets stay."""
    text = " ".join(document.tokens)
    if not wrap:
        return text
    wrapped = textwrap.fill(text, wrap, break_long_words=False, break_on_hyphens=False)
    assert len(wrapped) == len(text)  # every line break took a space's place
    return wrapped


def word_offsets(tokens: list[str]) -> list[tuple[int, int]]:
    """Each word's characters in `" ".join(tokens)`."""
    return [(start, start + len(token)) for start, token in zip(joined_word_starts(tokens), tokens)]


def wrong_cuts(document: Document, wrap: int | None) -> tuple[list[str], int]:
    """The cuts the splitter makes inside a one-sentence document (each shown with the words
    around it) and how many gold relations cross one."""
    text = raw_text(document, wrap)
    ranges = split_sentences(text, by_lines=False)
    cuts = [end for _, end in ranges[:-1]]
    offsets = word_offsets(document.tokens)

    def sentence_of(word: int) -> int:
        return sum(offsets[word][0] >= cut for cut in cuts)

    crossing = 0
    for relation in document.relations:
        words = [e for k in (relation.head, relation.tail)
                 for e in (document.entities[k].start, document.entities[k].end - 1)]
        crossing += len({sentence_of(w) for w in words}) > 1
    shown = [" ".join(text[max(0, cut - 25):cut].split()) + " | " + " ".join(text[cut:cut + 20].split())
             for cut in cuts]
    return shown, crossing


def as_gold_words(document: Document, result) -> Document:
    """A raw-text result in the gold document's words: entities whose characters are not a run of
    gold words get a span past the document's end (they match nothing), as do their relations."""
    offsets = word_offsets(document.tokens)
    starts = {a: k for k, (a, _) in enumerate(offsets)}
    ends = {b: k + 1 for k, (_, b) in enumerate(offsets)}
    entities = []
    for n, e in enumerate(result.entities):
        if e.start in starts and e.end in ends:
            entities.append(Entity(starts[e.start], ends[e.end], e.type))
        else:
            entities.append(Entity(len(offsets) + n, len(offsets) + n + 1, e.type))
    return Document(document.tokens, entities, [Relation(r.head, r.tail, r.type) for r in result.relations])


def extraction_f1(model: str, documents: list[Document], hyphenated_words: str | None, wrap: int | None) -> dict:
    import spertmt

    extractor = spertmt.load(model)
    if hyphenated_words:
        extractor.set_prediction_settings(hyphenated_words=hyphenated_words)
    types = extractor.types
    rows = {}
    for name, inputs in (("raw_text", [raw_text(d, wrap) for d in documents]),
                         ("word_lists", [d.tokens for d in documents])):
        results = extractor.extract(inputs)
        predicted = [as_gold_words(d, r) if name == "raw_text" else
                     Document(d.tokens, [Entity(e.token_start, e.token_end, e.type) for e in r.entities],
                              [Relation(x.head, x.tail, x.type) for x in r.relations])
                     for d, r in zip(documents, results)]
        metrics = evaluate(documents, predicted, types)
        rows[name] = {"ner_f1": round(metrics["ner"]["micro"]["f1"], 2),
                      "re_strict_f1": round(metrics["re_strict"]["micro"]["f1"], 2)}
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="SpERT JSON of one-sentence documents, under $SPERTMT_DATA")
    parser.add_argument("--model", help="a model folder: also extract the documents both ways and score them")
    parser.add_argument("--hyphenated-words", choices=("joined", "apart"),
                        help="raw text's hyphenated words (default: the model's setting)")
    parser.add_argument("--wrap", type=int, help="hard-wrap each raw text at this many characters")
    parser.add_argument("--output", help="write the record here (JSON)")
    args = parser.parse_args(argv)
    path = Path(args.data) if Path(args.data).exists() else Path(Config(test_path=args.data).data_path("test_path"))
    documents = read_documents(path)
    cut, crossing, examples = 0, 0, []
    for document in documents:
        shown, crosses = wrong_cuts(document, args.wrap)
        cut += bool(shown)
        crossing += crosses
        examples.extend(shown)
    relations = sum(len(d.relations) for d in documents)
    print(f"{args.data}: {cut} of {len(documents)} one-sentence documents cut, "
          f"{crossing} of {relations} gold relations across a cut")
    for example in examples[:20]:
        print(f"  {example}")
    record = {"command": " ".join(["python", "experiments/sentence_splits.py", *(argv or sys.argv[1:])]),
              "data": args.data, "wrap": args.wrap, "documents": len(documents), "documents_cut": cut,
              "cuts": len(examples),
              "relations": relations, "relations_across_a_cut": crossing, "examples": examples[:40]}
    if args.model:
        record["model"] = args.model
        record["hyphenated_words"] = args.hyphenated_words
        record["f1"] = extraction_f1(args.model, documents, args.hyphenated_words, args.wrap)
        for name, row in record["f1"].items():
            print(f"  {name:10} NER {row['ner_f1']:6.2f}  RE+ {row['re_strict_f1']:6.2f}")
    if args.output:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], capture_output=True, text=True).stdout.strip()
        record.update(date=date.today().isoformat(), commit=commit + ("-dirty" if dirty else ""),
                      machine={"cpu": platform.processor() or platform.machine(), "python": platform.python_version()})
        Path(args.output).write_text(json.dumps(record, indent=1) + "\n")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
