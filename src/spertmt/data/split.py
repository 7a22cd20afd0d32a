"""One annotated corpus into training, dev and test sets, or into folds for cross-validation
(`spertmt split`), the sentences of one source text always in one set.

An annotation tool exports a project as one file; SpERT documents are sentences. Dealt out one by
one, the sentences of a text fall into every set, and a test set then holds the text's other
sentences' names, places and phrasing that training saw: its F1 says more than the model knows
(`validate --train` counts documents that a training set holds). So whole source texts are dealt
out: a document's source is its orig_id without the part that a converter adds for the sentence
(`name:first character` of brat's, doccano's, Label Studio's and Prodigy's readers, `key#i` of
DyGIE++'s); a document without an orig_id is a source of its own.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from .documents import DataError, Document

SENTENCE_SUFFIX = re.compile(r"[:#]\d+$")  # what convert's readers add to a text's name for its sentence
SETS = ("train", "dev", "test")


def source_of(document: Document, index: int) -> str:
    """The name of the text that `document` (the `index`-th of its file) is a sentence of."""
    if document.orig_id is None:
        return f"document {index}"
    return SENTENCE_SUFFIX.sub("", str(document.orig_id))


@dataclass
class Split:
    """The documents of each set (in the order of the file) and how many source texts each holds."""

    documents: dict[str, list[Document]]
    sources: dict[str, int]


def split_documents(documents: list[Document], dev: float, test: float, seed: int = 0,
                    by_sentence: bool = False, where: str = "the corpus") -> Split:
    """Deals the source texts of `documents` (each document its own with `by_sentence`), shuffled
    with `seed`, into test until it holds a `test` share of the documents, then dev (`dev`), and
    the rest into training. A set asked for that would be empty, or a training set left empty, is a
    DataError naming `where`."""
    for name, share in (("dev", dev), ("test", test)):
        if not 0 <= share < 1:
            raise ValueError(f"the {name} share must be at least 0 and below 1, not {share}")
    if dev + test >= 1:
        raise ValueError(f"the dev and test shares ({dev} + {test}) leave nothing to train on")
    sources = _sources(documents, seed, by_sentence)
    chosen: dict[str, list[int]] = {name: [] for name in SETS}
    counts = dict.fromkeys(SETS, 0)
    wanted = {"test": test * len(documents), "dev": dev * len(documents)}
    for indices in sources:
        name = next((n for n in ("test", "dev") if len(chosen[n]) < wanted[n]), "train")
        chosen[name] += indices
        counts[name] += 1
    for name in SETS:
        if (name == "train" or wanted[name] > 0) and not chosen[name]:
            unit = "documents" if by_sentence else "source texts"
            raise DataError(f"{where}: its {len(sources)} {unit} are too few to give every set one "
                            f"(dev {dev}, test {test})")
    return Split({name: [documents[k] for k in sorted(chosen[name])] for name in SETS if chosen[name]}, counts)


def _sources(documents: list[Document], seed: int, by_sentence: bool) -> list[list[int]]:
    """The indices of each source text's documents (each document alone with `by_sentence`), the
    sources shuffled with `seed`."""
    by_source: dict[str, list[int]] = {}
    for k, document in enumerate(documents):
        by_source.setdefault(str(k) if by_sentence else source_of(document, k), []).append(k)
    sources = list(by_source.values())
    random.Random(seed).shuffle(sources)
    return sources


def fold_documents(documents: list[Document], folds: int, seed: int = 0, by_sentence: bool = False,
                   where: str = "the corpus") -> list[list[Document]]:
    """`folds` test sets for cross-validation: the source texts of `documents`, shuffled with `seed`,
    each dealt to the fold that holds the fewest documents so far; each fold's documents in the
    order of the file. Fewer source texts than folds is a DataError naming `where`."""
    if folds < 2:
        raise ValueError(f"cross-validation needs 2 folds or more, not {folds}")
    sources = _sources(documents, seed, by_sentence)
    if len(sources) < folds:
        unit = "documents" if by_sentence else "source texts"
        raise DataError(f"{where}: its {len(sources)} {unit} are too few for {folds} folds")
    chosen: list[list[int]] = [[] for _ in range(folds)]
    for indices in sources:
        min(chosen, key=len).extend(indices)
    return [[documents[k] for k in sorted(fold)] for fold in chosen]


def _read(path: str | Path, output: str | Path) -> tuple[list[Document], Path]:
    """The documents of the SpERT JSON file `path`, once `output` is known not to be a file."""
    from ..files import check_input
    from .documents import read_documents

    check_input(path)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output}: a file; give the folder to write the sets into")
    return read_documents(path), output


def split_file(path: str | Path, output: str | Path, dev: float = 0.1, test: float = 0.1, seed: int = 0,
               by_sentence: bool = False) -> tuple[Split, dict[str, Path]]:
    """Splits the SpERT JSON file `path` (split_documents) into `output`/train.json, dev.json and
    test.json (the sets asked for); returns the split and the files written. A file to write that is
    `path` itself is refused before anything is written."""
    from ..files import check_output
    from .documents import write_documents

    documents, output = _read(path, output)
    split = split_documents(documents, dev, test, seed, by_sentence, str(path))
    files = {name: output / f"{name}.json" for name in split.documents}
    for file in files.values():
        check_output(file, path)
    for name, file in files.items():
        write_documents(file, split.documents[name])
    return split, files


def fold_file(path: str | Path, output: str | Path, folds: int, seed: int = 0,
              by_sentence: bool = False) -> list[tuple[list[Document], list[Document], Path, Path]]:
    """Cross-validation sets of the SpERT JSON file `path` (fold_documents): for each fold k,
    `output`/fold_k_test.json (the fold) and fold_k_train.json (the others); returns each fold's
    (train, test, train file, test file). A file to write that is `path` is refused before anything
    is written."""
    from ..files import check_output
    from .documents import write_documents

    documents, output = _read(path, output)
    written = []
    for k, test in enumerate(fold_documents(documents, folds, seed, by_sentence, str(path))):
        held_out = {id(d) for d in test}
        train = [d for d in documents if id(d) not in held_out]  # in the order of the file
        files = output / f"fold_{k}_train.json", output / f"fold_{k}_test.json"
        for file in files:
            check_output(file, path)
        written.append((train, test, *files))
    for train, test, train_file, test_file in written:
        write_documents(train_file, train)
        write_documents(test_file, test)
    return written
