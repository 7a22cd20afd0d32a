"""Files in, files out, whatever runs the model (spertmt.Extractor or the runtime without torch):
`predict_file` streams a text, JSON lines, CSV or SpERT JSON file (or a folder of text files)
through `extract` into JSON lines or SpERT JSON, written atomically; `merge_parts` joins the parts
of several processes. `-` as the input reads standard input (text lines unless told), as the output
writes standard output (JSON lines unless told, each chunk as soon as it is extracted). Imports no
torch."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import regex  # its \w holds combining marks, which re's leaves out

from ..config import INPUT_FORMATS, OUTPUT_FORMATS
from ..data.documents import Document, utf8_lines
from ..files import (
    atomic_folder,
    atomic_output,
    check_input,
    check_output,
    check_replaceable,
    compression,
    extension,
    is_stdio,
    lock_file,
    open_binary,
    uncompressed,
)
from .texts import MAX_SENTENCE_WORDS, Extraction, TextError, as_texts, prepare_texts


def _name(path: Path) -> str:
    """How messages name an input: its path, or standard input."""
    return "standard input" if is_stdio(path) else str(path)


@dataclass(frozen=True)
class Columns:
    """The columns of a CSV or TSV input (the keys of a JSON lines one) that hold each text and its id;
    an id column named otherwise than "id" must be there."""

    text: str = "text"
    id: str = "id"

    @property
    def id_named(self) -> bool:
        """Whether the id column was named (not the default "id", which an input may lack)."""
        return self.id != Columns.id


def _read_inputs(path: Path, input_format: str, columns: Columns = Columns()):
    """Yields (id, text or word list, given entities or None, where: the input's place for messages),
    lazily for all but spert."""
    name = _name(path)
    if input_format == "spert":
        from ..data.documents import read_documents

        if is_stdio(path):
            raise ValueError("SpERT JSON is read from a file, not from standard input: give its path as --input")
        for i, doc in enumerate(read_documents(path)):
            yield (doc.orig_id if doc.orig_id is not None else i), doc.tokens, None, f"{name}, document {i}"
        return
    if input_format == "folder":
        yield from _folder_texts(path)
        return
    numbered = (_paragraphs(path) if input_format == "paragraphs" else
                _table_rows(path, TABLE_DELIMITERS[input_format], columns) if input_format in TABLE_DELIMITERS
                else _text_or_jsonl_lines(path, input_format, columns))
    for identifier, content, given, line_number in numbered:
        yield identifier, content, given, f"{name}, line {line_number}"


def _text_or_jsonl_lines(path: Path, input_format: str, columns: Columns = Columns()):
    """(id, text or word list, given entities or None, line number) of a text or JSON lines file."""
    for line_number, line in _lines(path):
        if input_format == "txt":  # every line is a text, an empty one too: results match lines by position
            yield line_number, line.rstrip("\r\n"), None, line_number
        elif line.strip():  # a blank line of JSON lines holds no object; each result keeps its id
            yield (*_jsonl_input(path, line_number, line, columns), line_number)


def _folder_files(path: Path) -> list[Path]:
    """A folder's .txt files (A.TXT and compressed ones, a.txt.gz, too), in its subfolders too, in the
    order of their paths."""
    return sorted((file for file in path.rglob("*") if extension(file) == ".txt" and file.is_file()),
                  key=lambda file: file.relative_to(path).parts)


def _folder_texts(path: Path):
    """Each .txt file of a folder as one text (a document: `extract` splits its sentences), its id its
    path within the folder."""
    files = _folder_files(path)
    if not files:
        raise ValueError(f"{path}: a folder without .txt files; predict reads each .txt file of a folder as a text")
    for file in files:
        yield file.relative_to(path).as_posix(), "".join(line for _, line in _lines(file)), None, str(file)


def _lines(path: Path):
    """(line number, line) of a UTF-8 file or standard input, decoded line by line so that an
    encoding error names its line."""
    source = contextlib.nullcontext(sys.stdin.buffer) if is_stdio(path) else open_binary(path)
    with source as f:
        yield from utf8_lines(f, _name(path))


def _paragraphs(path: Path):
    """The paragraphs of a text file (runs of non-blank lines, their line breaks kept: `extract`
    reads a line break inside a paragraph as a space), each with its first line's number as its id."""
    first, lines = None, []
    for line_number, line in _lines(path):
        if line.strip():
            first = line_number if first is None else first
            lines.append(line)
        elif lines:
            yield first, "".join(lines).rstrip("\r\n"), None, first
            first, lines = None, []
    if lines:
        yield first, "".join(lines).rstrip("\r\n"), None, first


TABLE_DELIMITERS = {"csv": ",", "tsv": "\t"}


def _table_reader(lines, delimiter: str):
    """csv.reader over `lines`, with csv's limit of 131,072 characters a field raised (the process's
    limit): a document in one cell may be longer."""
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    return csv.reader(lines, delimiter=delimiter)


def _table_rows(path: Path, delimiter: str, columns: Columns = Columns()):
    """The rows of a CSV or TSV file whose first line names its columns: one holds the texts
    (`columns.text`), and an id column (`columns.id`), where there is one, gives each result its id
    (else the row's first line number). Blank lines are skipped; a field may hold line breaks where it
    is quoted."""
    name = _name(path)
    reader = _table_reader((line for _, line in _lines(path)), delimiter)
    try:
        header = [column.strip() for column in next(reader, [])]
        if not header:  # an empty file: no inputs
            return
        if columns.text not in header or (columns.id_named and columns.id not in header):
            other = next((d for d in ";|\t," if d != delimiter and d in header[0]), None) if len(header) == 1 else None
            hint = (f" (columns parted by {other!r}? save the file with {delimiter!r})" if other else "" if
                    columns.text != Columns.text else " (another column holds the texts? name it with --text-column)")
            raise ValueError(f"{name}, line 1: the first line must name the columns, one of them {columns.text!r} "
                             f"(and {'' if columns.id_named else 'optionally '}{columns.id!r}); it has "
                             f"{header}{hint}")
        text_at, id_at = header.index(columns.text), header.index(columns.id) if columns.id in header else None
        while True:
            first = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f"{name}, line {first}: {len(row)} fields where the first line names "
                                 f"{len(header)} ({', '.join(header)})")
            yield (first if id_at is None else row[id_at]), row[text_at], None, first
    except csv.Error as error:  # e.g. a quote inside an unquoted field
        raise ValueError(f"{name}, line {reader.line_num}: not valid {'CSV' if delimiter == ',' else 'TSV'}: "
                         f"{error}") from None


def _scan_inputs(path: Path, input_format: str, rank: int = 0, world: int = 1, progress: bool = False,
                 extractor=None, max_sentence_words: int = MAX_SENTENCE_WORDS,
                 folder_format: str | None = None, columns: Columns = Columns()) -> int | None:
    """Reads every input once before any is extracted, so that an error in one (not valid JSON, not
    UTF-8, a row with a field too many, a lone surrogate; with `extractor`, given entities that its
    model cannot place; with a `folder_format` (brat, webanno), an id naming the file of an input
    before it) ends the command before work is done that its output would not keep; returns how many
    inputs process `rank` of `world` takes (the progress bar's total). None for standard input (read once)."""
    from tqdm.auto import tqdm

    if is_stdio(path):
        return None
    count, names = 0, {}
    inputs = tqdm(_read_inputs(path, input_format, columns), desc="check inputs", unit=" inputs",
                  disable=not progress, leave=False)
    for index, (identifier, content, given, where) in enumerate(inputs):
        try:
            if given is not None and extractor is not None:  # placed as extract places them: its words
                prepare_texts([content], [given], extractor.types, extractor.config, max_sentence_words)
            else:
                as_texts([content])
        except TextError as error:
            raise _input_error(error, [content], [where]) from None
        if folder_format:
            name = output_name(identifier, FOLDER_OUTPUTS[folder_format])
            if name in names:
                raise ValueError(f"{where}: its id {identifier!r} names the {folder_format} file {name}, as the id "
                                 f"of {names[name]} does: give each input an id of its own")
            names[name] = where
        count += index % world == rank
    return count


def _input_error(error: TextError, contents, places) -> ValueError:
    """A TextError of `extract` named by its input's place (file and line), not its index in the call."""
    own = "text" if isinstance(contents[error.item], str) else "tokens"
    message = str(error).replace(f"entities[{error.item}]", "entities").replace(f"texts[{error.item}]", own)
    return ValueError(f"{places[error.item]}: {message}")


def _jsonl_input(path: Path, line_number: int, line: str, columns: Columns = Columns()):
    """(id, text or word list, given entities or None) of one JSON line, checked; its text and id under
    the keys `columns` names."""
    text = columns.text
    where = f"{_name(path)}, line {line_number}"
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:  # the latter: nested thousands deep
        raise ValueError(f"{where}: not valid JSON: {error}") from None
    if not isinstance(record, dict) or not (text in record or "tokens" in record):
        other = " (another key holds the texts? name it with --text-column)" if text == Columns.text else ""
        raise ValueError(f"{where}: expected an object with {text!r} or 'tokens'{other}")
    if text in record and record[text] is None:  # a missing value (pandas writes NaN so): the words where
        del record[text]  # the object gives them, else an empty text, as Ray's column reads it
        if "tokens" not in record:
            record[text] = ""
    if text in record and not isinstance(record[text], str):
        raise ValueError(f"{where}: {text!r} is {record[text]!r}; expected a string")
    if columns.id_named and columns.id not in record:
        raise ValueError(f"{where}: no key {columns.id!r}, which the id column names")
    if text not in record and not (isinstance(record["tokens"], list)
                                     and all(isinstance(t, str) for t in record["tokens"])):
        raise ValueError(f"{where}: 'tokens' must be a list of strings")
    given = record.get("entities")
    if given is not None and not isinstance(given, list):
        raise ValueError(f"{where}: 'entities' must be a list of objects")
    content = record[text] if text in record else record["tokens"]
    return record.get(columns.id, line_number), content, given


def check_files(input_path: str | Path, output_path: str | Path, input_format: str | None = None,
                output_format: str | None = None, world: int = 1, columns: Columns = Columns()) -> tuple[str, str]:
    """`predict_file`'s checks of its files, which the CLI also runs before the model loads: the input
    exists, the output is writable and not the input, each format is given or told by the extension,
    other `columns` than "text" and "id" only where the input has columns. Returns (input format,
    output format)."""
    input_path, output_path = Path(input_path), Path(output_path)
    if is_stdio(output_path) and world > 1:
        raise ValueError("several processes cannot share standard output: give --output a file")
    check_input(input_path)
    if input_path.is_dir() and input_format not in (None, "folder"):
        raise ValueError(f"{input_path}: a folder, which --input-format {input_format} does not read (without it, "
                         "each .txt file of a folder is a text)")
    if input_format == "folder" and not input_path.is_dir():
        raise ValueError(f"{input_path}: not a folder (--input-format folder reads each .txt file of a folder)")
    in_format = _format_of(input_path, input_format, INPUT_FORMATS)
    if columns != Columns() and in_format not in (*TABLE_DELIMITERS, "jsonl"):
        raise ValueError(f"text_column and id_column name columns of CSV or TSV input or keys of JSON lines; "
                         f"{_name(input_path)} is read as {in_format}")
    if output_format in FOLDER_OUTPUTS:  # a folder: given, never told by a name
        _check_folder_output(input_path, output_path, world, output_format)
    elif not is_stdio(output_path):
        check_output(output_path, input_path)
    return in_format, _format_of(output_path, output_format, OUTPUT_FORMATS)


FOLDER_OUTPUTS = {"brat": ".txt", "webanno": ".tsv"}  # output formats that are a folder of a file per input


def _marker(folder_format: str) -> str:
    """The file in a folder of `folder_format` files that predict wrote, which it may write again."""
    return f".spertmt-{folder_format}"


def _check_folder_output(input_path: Path, output_path: Path, world: int, folder_format: str) -> None:
    """A folder output is a folder of one process, outside the input, new or written by predict before."""
    if is_stdio(output_path) or world > 1:
        raise ValueError(f"{folder_format} output is a folder written by one process: give --output a folder")
    if output_path.resolve().is_relative_to(input_path.resolve()):
        raise ValueError(f"{output_path}: the input {input_path} or inside it; write the {folder_format} files to "
                         "another folder")
    check_replaceable(output_path, (_marker(folder_format),), f"a folder of {folder_format} files that predict wrote")


def output_name(identifier, suffix: str) -> PurePosixPath:
    """The path in a folder output of the file that an input's id names, with `suffix` (brat's .txt,
    beside its .ann; webanno's .tsv): a folder input's `sub/a.txt` (or `sub/a.txt.gz`) gives sub/a
    and the suffix; characters that cannot name a file become _ (letters with their marks stay:
    हिन्दी), and parts that would leave the folder are dropped."""
    parts = [regex.sub(r"[^\w.-]", "_", part) for part in uncompressed(PurePosixPath(str(identifier))).parts
             if part not in ("/", ".", "..")] or ["_"]
    last = parts[-1][:-4] if parts[-1].lower().endswith(".txt") else parts[-1]
    return PurePosixPath(*parts[:-1], last + suffix)


def _write_in_folder(folder: Path, folder_format: str, identifier, result: Extraction, types) -> None:
    """One result as a file of `folder`, named by its id (`output_name`): brat's .txt and .ann, or a
    WebAnno TSV 3 file (with the relation layer where the model has relation types)."""
    from ..data.convert import brat_files, brat_types

    path = folder / output_name(identifier, FOLDER_OUTPUTS[folder_format])
    if path.exists():  # standard input is not read before: two of its ids may name one file
        raise ValueError(f"two inputs name the {folder_format} file {path.relative_to(folder)} (ids {identifier!r} "
                         "and one before it): give each input an id of its own")
    path.parent.mkdir(parents=True, exist_ok=True)
    if folder_format == "webanno":
        contents = {path: result.to_webanno(with_relations=bool(types.relations))}
    else:
        text, standoff = brat_files(result.to_doccano(), *brat_types(types))
        contents = {path: text, path.with_suffix(".ann"): standoff}
    for file, content in contents.items():  # newline="": \n as written, on Windows too
        file.write_text(content, encoding="utf-8", newline="")


@contextlib.contextmanager
def _output_folder(folder: Path, folder_format: str, types):
    """A folder of `folder_format` files (brat's with its configuration for `types`: annotation.conf,
    and visual.conf where a type's name is stored otherwise), written whole or not at all."""
    from ..data.convert import brat_configuration, brat_types

    marker = _marker(folder_format)
    with atomic_folder(folder, (marker,), f"a folder of {folder_format} files that predict wrote") as tmp:
        (tmp / marker).write_text("written by spertmt predict: may be written again\n")
        if folder_format == "brat":
            for name, content in brat_configuration(*brat_types(types)).items():
                (tmp / name).write_text(content, encoding="utf-8")
        yield tmp


JSON_LISTS = ("spert", "labelstudio")  # output formats that are one JSON list (a process's part: JSON lines)


def _write_result(out, out_format: str, identifier, result: Extraction, first: bool, part: bool, types) -> None:
    """One result into `out`: a JSON line (jsonl, doccano, prodigy; every format into a process's part file),
    an element of SpERT JSON's or Label Studio's list, or a file in the folder `out` (brat, webanno)."""
    if out_format in FOLDER_OUTPUTS:
        _write_in_folder(out, out_format, identifier, result, types)
        return
    if out_format == "jsonl":
        line = json.dumps({"id": identifier, **result.to_dict()}, ensure_ascii=False)
    elif out_format == "doccano":
        line = json.dumps(result.to_doccano(identifier), ensure_ascii=False)
    elif out_format == "labelstudio":
        line = json.dumps(result.to_labelstudio(identifier), ensure_ascii=False)
    elif out_format == "prodigy":
        line = json.dumps(result.to_prodigy(identifier), ensure_ascii=False)
    else:
        line = json.dumps(_as_document(result, identifier).to_json(), ensure_ascii=False)
    out.write(line + "\n" if part or out_format not in JSON_LISTS else ("" if first else ",") + line)


def _format_of(path: Path, given: str | None, choices: tuple[str, ...]) -> str:
    if given:
        return given
    if is_stdio(path):  # no extension to tell: text lines in, JSON lines out
        return "txt" if "txt" in choices else "jsonl"
    if "folder" in choices and path.is_dir():
        return "folder"
    suffix = {".txt": "txt", ".jsonl": "jsonl", ".json": "spert", ".csv": "csv", ".tsv": "tsv"}.get(extension(path))
    if suffix not in choices:
        raise ValueError(f"{path}: cannot tell the format from the extension; pass one of {choices}")
    return suffix


def predict_file(extractor, input_path: str | Path, output_path: str | Path, *,
                 input_format: str | None = None, output_format: str | None = None, batch_size: int | None = None,
                 threshold: float | None = None, relations: bool = True, progress: bool = True,
                 chunk_size: int = 512, rank: int = 0, world: int = 1, html: str | Path | None = None,
                 html_limit: int = 200, max_sentence_words: int = MAX_SENTENCE_WORDS,
                 flat_ner: bool | None = None, resume: bool = False, text_column: str = "text",
                 id_column: str = "id") -> int:
    """Extracts from a file and writes the results, `chunk_size` inputs at a time (text and JSON
    lines inputs stream: memory does not grow with the file). Returns the number of results the
    output holds.

    Input formats: txt (one text per line, an empty line an empty text with an empty result),
    paragraphs (a text file's paragraphs, runs of non-blank lines, each a text whose id is its
    first line's number: text wrapped at a width, as from a PDF, keeps its sentences whole), jsonl
    (`{"text": ...}` or `{"tokens": [...]}`, optional "id" and "entities"; blank lines are skipped,
    and a result's id is its line number where the object gives none), csv and tsv (`_table_rows`;
    `text_column` and `id_column` name the columns, or jsonl's keys, of each text and its id), spert
    (SpERT JSON), folder (each .txt file of a folder a text, its id the file's path in it).
    Every input of a file is read once before any is extracted (`_scan_inputs`): an input error
    ends the call before work is done that the output would not keep.
    Output formats: jsonl (one Extraction per input, with its id), doccano (Extraction.to_doccano's
    record per input), labelstudio (a JSON list of Extraction.to_labelstudio's tasks), prodigy
    (Extraction.to_prodigy's task per input), spert (SpERT JSON documents with scores), brat or
    webanno (a folder, a file per input: `_write_in_folder`).
    A file named .gz, .bz2 or .xz is read or written through that compression, its format told by
    the extension before it (texts.jsonl.gz: JSON lines; files.compression).

    With `world` > 1 (several processes, e.g. under torchrun), process `rank` takes inputs
    rank, rank + world, ... and writes `<output>.part<rank>`; `merge_parts` then joins them in
    input order. `html`: also write the HTML view (spertmt.inference.visualize) of the first `html_limit`
    results.

    `resume` (JSON lines or doccano into a file, one process): results go to `<output>.partial` as each chunk is
    extracted and stay there if the call is stopped; a later call with `resume` skips the inputs that
    file holds (checking that the last one's id is the input's there) and goes on, and the file
    becomes the output when the input is done (compressed into it, where the output's name asks
    for a compression: the partial file is plain JSON lines).
    """
    from tqdm.auto import tqdm

    input_path, output_path = Path(input_path), Path(output_path)
    columns = Columns(text_column, id_column)
    in_format, out_format = check_files(input_path, output_path, input_format, output_format, world, columns)
    sharded, to_stdout = world > 1, is_stdio(output_path)
    if resume and (sharded or to_stdout or out_format in (*JSON_LISTS, *FOLDER_OUTPUTS) or html):
        raise ValueError("resume continues a JSON lines output file of one process, with no HTML view")
    total = _scan_inputs(input_path, in_format, rank, world, progress, extractor, max_sentence_words,
                         folder_format=out_format if out_format in FOLDER_OUTPUTS else None, columns=columns)
    done, last_id, partial = 0, None, None
    if resume:
        partial, done, last_id = _open_partial(_partial(output_path))
    count = done
    shown: list[Document] = []
    bar = tqdm(desc="extract", unit=" texts", total=total, initial=done, disable=not progress)
    target = _part(output_path, rank) if sharded else output_path
    # no half-written output file, even after Ctrl-C; standard output gets each chunk as it is done,
    # a resumable output each whole chunk
    types = extractor.types if out_format in FOLDER_OUTPUTS else None  # what a folder's files say of the model
    sink = (contextlib.nullcontext(sys.stdout) if to_stdout else _resumable_output(partial, target) if resume
            else _output_folder(target, out_format, types) if out_format in FOLDER_OUTPUTS else atomic_output(target))
    with contextlib.closing(bar), sink as out:
        if out_format in JSON_LISTS and not sharded:
            out.write("[")
        chunk: list = []

        def flush():
            nonlocal count
            ids, contents, given, places = zip(*chunk)
            has_given = any(g is not None for g in given)
            try:
                results = extractor.extract(list(contents), [g or [] for g in given] if has_given else None,
                                            batch_size=batch_size, threshold=threshold, relations=relations,
                                            max_sentence_words=max_sentence_words, flat_ner=flat_ner)
            except TextError as error:  # name the input's line, not its place in the chunk
                raise _input_error(error, contents, places) from None
            for identifier, result in zip(ids, results):
                if html and len(shown) < html_limit:
                    shown.append(_as_document(result, identifier))
                _write_result(out, out_format, identifier, result, count == 0, sharded, types)
                count += 1
            if to_stdout or resume:
                out.flush()
            bar.update(len(chunk))
            chunk.clear()

        inputs = (record for index, record in enumerate(_read_inputs(input_path, in_format, columns))
                  if index % world == rank)
        for record in _after(inputs, done, last_id, Path(partial.name), input_path) if done else inputs:
            chunk.append(record)
            if len(chunk) >= chunk_size:
                flush()
        if chunk:
            flush()
        if out_format in JSON_LISTS and not sharded:
            out.write("]")
    if html:
        from .visualize import write_html

        write_html(html, shown, types=extractor.types)
    return count


def _after(inputs, done: int, last_id, partial: Path, input_path: Path):
    """The inputs after the `done` that a partial output holds, once the last of those is found to
    be the input whose result the partial output ends with."""
    seen = 0
    for record in inputs:
        seen += 1
        if seen < done:
            continue
        if seen == done:
            if json.loads(json.dumps(record[0])) != last_id:  # as the id reads back from the file
                raise ValueError(f"{partial} does not continue {_name(input_path)}: its last result has id "
                                 f"{last_id!r}, input {done} has {record[0]!r}; remove it to start again")
            continue
        yield record
    if seen < done:
        raise ValueError(f"{partial} holds {done} results, {_name(input_path)} only {seen} inputs; remove it "
                         "to start again")


def _partial(output_path: Path) -> Path:
    return output_path.with_name(f"{output_path.name}.partial")


def _open_partial(path: Path):
    """A partial output opened to append to, locked against a second writer (files.lock_file), with
    how many results it holds and the last one's id; a line that a kill cut short is cut off."""
    handle = open(path, "a", encoding="utf-8")
    try:
        if not lock_file(handle):
            raise ValueError(f"{path}: another process is writing it; wait for it to end")
        count, end, last = 0, 0, None
        with open(path, "rb") as lines:  # bytes: where a line that a kill cut short begins
            for line in lines:
                if not line.endswith(b"\n"):
                    break
                count, end, last = count + 1, end + len(line), line
        handle.truncate(end)
        try:
            return handle, count, json.loads(last)["id"] if last else None
        except (ValueError, KeyError, TypeError):  # UnicodeDecodeError is a ValueError too
            raise ValueError(f"{path}, line {count}: not a result of spertmt predict; remove the file to start "
                             "again") from None
    except BaseException:
        handle.close()
        raise


@contextlib.contextmanager
def _resumable_output(partial, output_path: Path):
    """Appends to a partial output (`_open_partial`); it becomes the output when the block ends
    normally and stays, whole lines only, when it does not (saying so)."""
    with partial:
        try:
            yield partial
        except BaseException as stop:
            partial.flush()
            if os.path.getsize(partial.name) == 0:  # nothing to go on from
                Path(partial.name).unlink()
            elif not isinstance(stop, Exception):  # Ctrl-C or SIGTERM: the run was stopped, not wrong
                print(f"the results so far are kept in {partial.name}; the same command with --resume goes on "
                      "from there", file=sys.stderr)
            raise
        partial.flush()
        if compression(output_path):  # the partial output is plain JSON lines, compressed into the output
            with open(partial.name, encoding="utf-8") as plain, atomic_output(output_path) as out:
                shutil.copyfileobj(plain, out)
            Path(partial.name).unlink()
        else:
            os.fsync(partial.fileno())
            Path(partial.name).replace(output_path)  # while the lock is held


def _part(output_path: Path, rank: int) -> Path:
    return output_path.with_name(f"{output_path.name}.part{rank}")


def merge_parts(output_path: str | Path, world: int, output_format: str | None = None) -> int:
    """Joins the `world` part files of a sharded `predict_file` in input order, then removes them."""
    output_path = Path(output_path)
    out_format = _format_of(output_path, output_format, OUTPUT_FORMATS)
    parts = [open(_part(output_path, r), encoding="utf-8") for r in range(world)]
    count = 0
    with atomic_output(output_path) as out:
        out.write("[" if out_format in JSON_LISTS else "")
        while True:
            line = parts[count % world].readline()  # input i went to rank i % world
            if not line:
                break
            if out_format in JSON_LISTS:
                out.write(("," if count else "") + line.rstrip("\n"))
            else:
                out.write(line)
            count += 1
        out.write("]" if out_format in JSON_LISTS else "")
    for r, part in enumerate(parts):
        part.close()
        _part(output_path, r).unlink()
    return count


def _as_document(result: Extraction, identifier) -> Document:
    from ..data.documents import Entity, Relation

    return Document(result.tokens, [Entity(e.token_start, e.token_end, e.type, e.score, e.probability)
                                    for e in result.entities],
                    [Relation(r.head, r.tail, r.type, r.score, r.probability) for r in result.relations], identifier)
