"""`convert --from webanno` against INCEpTION's own reading of its TSV 3 reference suite.

INCEpTION's source holds a suite of TSV 3 files, each with the CAS that INCEpTION reads from it
(`inception-io-webanno-tsv/src/test/resources/tsv3-suite/<case>/reference.tsv` and `reference.xmi`).
For every case with a relation layer, this reads the TSV with spertmt.data.webanno and compares its
relations, by the characters of their two spans, with the XMI's (each `Governor` and `Dependent`).
The suite's spans and relations mostly have no value, which the reader skips (SpERT needs a type):
here such values are read as placeholders first, so that the structure (multi-token spans, stacked
ones, the ids a relation names them by) is what is compared.

    git clone --depth 1 https://github.com/inception-project/inception
    python experiments/webanno_check.py inception/inception-io-webanno-tsv/src/test/resources/tsv3-suite

It prints how many of the suite's files read without an error, then a line per case with relations
and how many agree; relations on sub-tokens differ by design (the reader skips spans on sub-tokens:
a SpERT entity is whole words).

Then the writer (`convert --to webanno`, `predict --output-format webanno`): every case of one span
layer (and at most one relation layer with one feature) whose spans and relations the reader reads
whole, on tokens of one-space text, is written again by spertmt.data.webanno.tsv_file with the
file's own layer names and compared with INCEpTION's file byte for byte (valueless ones as
placeholders on both sides).
"""

from __future__ import annotations

import argparse
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from spertmt.data import webanno
from spertmt.data.convert import Report, read_webanno
from spertmt.data.documents import DataError
from spertmt.data.text import utf16_offsets

XMI_ID = "{http://www.omg.org/XMI}id"


def with_placeholders(lines: list[str], entity: webanno._Layer, relations: list[webanno._Layer]) -> list[str]:
    """The rows with each valueless span read as X and each valueless relation as R."""
    label = entity.label_column() or entity.first_column
    out = []
    for line in lines:
        columns = line.split("\t")
        if line and not line.startswith("#") and len(columns) > label:
            if columns[label] != "_":
                columns[label] = "|".join(re.sub(r"^\*", "X", v) for v in webanno.stacked(columns[label]))
            for layer in relations:
                column = layer.label_column()
                if column is not None and columns[column] != "_":
                    columns[column] = "|".join("R" if v in ("*", "_") else v
                                               for v in webanno.stacked(columns[column]))
            line = "\t".join(columns)
        out.append(line)
    return out


def ours(lines: list[str], name: str) -> tuple[list[tuple[int, int, int, int]], Report]:
    """Each relation read as (head's first character, its end, tail's first character, its end)."""
    report = Report()
    documents = webanno.tsv_documents("\n".join(lines), name, name, report)
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")]
    characters: list[list[tuple[int, int]]] = []
    for columns in rows:  # the tokens' characters, sentence by sentence
        sentence = int(columns[0].split("-")[0]) - 1
        while len(characters) <= sentence:
            characters.append([])
        if "." not in columns[0]:
            start, end = columns[1].split("-")
            characters[sentence].append((int(start), int(end)))
    found = []
    for k, document in enumerate(documents):
        for r in document.relations:
            head, tail = document.entities[r.head], document.entities[r.tail]
            found.append((characters[k][head.start][0], characters[k][head.end - 1][1],
                          characters[k][tail.start][0], characters[k][tail.end - 1][1]))
    return sorted(found), report


def theirs(xmi: Path) -> list[tuple[int, int, int, int]]:
    root = ET.parse(xmi).getroot()
    by_id = {element.get(XMI_ID): element for element in root}
    found = []
    for element in root:
        if element.get("Governor") and element.get("Dependent"):
            governor, dependent = by_id[element.get("Governor")], by_id[element.get("Dependent")]
            found.append((int(governor.get("begin")), int(governor.get("end")),
                          int(dependent.get("begin")), int(dependent.get("end"))))
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("suite", type=Path, help="INCEpTION's tsv3-suite folder")
    suite = parser.parse_args().suite
    files = sorted(suite.glob("*/reference.tsv"))
    failed = []
    for file in files:  # every file of the suite, read as convert reads it
        try:
            read_webanno(file)
        except DataError as error:
            failed.append(str(error))
    print(f"{len(files) - len(failed)} of {len(files)} files read without an error", *failed, sep="\n")
    checked = agree = 0
    for case in sorted(p for p in suite.iterdir() if (p / "reference.tsv").exists() and (p / "reference.xmi").exists()):
        lines = (case / "reference.tsv").read_text(encoding="utf-8").splitlines()
        layers = webanno._header(lines, case.name)
        entity, relations = webanno._choose_layers(layers)
        if entity is None or not relations:
            continue
        read, report = ours(with_placeholders(lines, entity, relations), case.name)
        expected = theirs(case / "reference.xmi")
        checked += 1
        agree += read == expected
        print("agree " if read == expected else "DIFFER", case.name, read, expected, dict(report.counts))
    print(f"{agree} of {checked} cases with relations agree")
    written = [check_writing(case) for case in sorted(suite.iterdir()) if (case / "reference.tsv").exists()]
    print(f"{written.count(True)} of {len(written) - written.count(None)} cases the writer can hold are written "
          "as INCEpTION wrote them")


def check_writing(case: Path) -> bool | None:
    """Whether tsv_file writes the case's file again byte for byte; None where the case holds what it
    does not write (slots, chains, several layers, sub-tokens, a span or relation the reader skips)."""
    lines = with_placeholders_for_all(case / "reference.tsv")
    if lines is None:
        return None
    layers = webanno._header(lines, case.name)
    spans = [layer for layer in layers if layer.kind == "SP"]
    relations = [layer for layer in layers if layer.kind == "RL"]
    if (len(spans) != 1 or tuple(spans[0].features) not in (("value",), ("identifier", "value")) or len(relations) > 1
            or len(spans) + len(relations) < len(layers) or any(len(layer.features) != 2 for layer in relations)):
        return None
    text = "\n".join(lines) + "\n"
    report = Report()
    documents = webanno.tsv_documents(text, case.name, case.name, report)
    if report.counts:
        return None
    text_of_file, sentences = document_text(lines)
    entities, links, first_word = [], [], 0
    for document, words in zip(documents, sentences):
        first_entity = len(entities)
        entities += [(first_word + e.start, first_word + e.end, e.type) for e in document.entities]
        links += [(first_entity + r.head, first_entity + r.tail, r.type) for r in document.relations]
        first_word += len(words)
    names = webanno.TsvLayers(spans[0].name, tuple(spans[0].features), *(
        (relations[0].name, relations[0].features[0]) if relations else ()))
    ours = webanno.tsv_file(text_of_file, sentences, entities, links, bool(relations), names)
    print("same  " if ours == text else "DIFFER", case.name, "(written)")
    return ours == text


def unescape_text(line: str) -> str:
    """A #Text line as INCEpTION reads it (the inverse of webanno.escape_text)."""
    escaped = {v: k for k, v in webanno._TEXT_ESCAPES.items()}
    return re.sub("|".join(map(re.escape, escaped)), lambda m: escaped[m.group(0)], line)


def document_text(lines: list[str]) -> tuple[str, list[list[tuple[int, int]]]]:
    """The document's text as INCEpTION rebuilds it from a file (Tsv3XDeserializer: each sentence's
    #Text lines, a line break after it, spaces up to the next sentence's first token), and each
    sentence's tokens' characters in it (the file counts UTF-16 units; these count characters)."""
    text, sentences = "", []
    pending: list[str] = []
    for line in lines + [""]:
        if line.startswith("#Text="):
            pending.append(unescape_text(line[len("#Text="):]))
        elif line and not line.startswith("#"):
            begin, end = (int(x) for x in line.split("\t")[1].split("-"))
            if pending:  # a sentence's first token
                if len(text.encode("utf-16-le")) // 2 > begin:  # no character between two sentences
                    text = text[:-1]
                text += " " * (begin - len(text.encode("utf-16-le")) // 2) + "\n".join(pending) + "\n"
                pending = []
                sentences.append([])
            sentences[-1].append((begin, end))
    character_at = {unit: k for k, unit in enumerate(utf16_offsets(text))}
    return text[:-1], [[(character_at[b], character_at[e]) for b, e in words] for words in sentences]


def with_placeholders_for_all(file: Path) -> list[str] | None:
    """The file's lines with valueless spans and relations as placeholders; None for a file on sub-tokens."""
    lines = file.read_text(encoding="utf-8").split("\n")[:-1]
    if any(re.match(r"^\d+-\d+\.\d+\t", line) for line in lines):
        return None
    entity, relations = webanno._choose_layers(webanno._header(lines, file.name))
    return lines if entity is None else with_placeholders(lines, entity, relations)


if __name__ == "__main__":
    main()
