"""Property-based tests of the commands (issue 25): random settings and random bytes given to
`spertmt` end in a named error (exit code 2, one line on stderr, never a traceback) or in a
result, and leave no stray files."""

import dataclasses
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spertmt.cli import main
from spertmt.config import Config

from .conftest import FIXTURES

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
MODEL = f"{FIXTURES}/model-format1"
KEYS = sorted(f.name for f in dataclasses.fields(Config))
VALUES = st.one_of(st.text(max_size=12), st.integers(-10**6, 10**6).map(str), st.floats(allow_nan=True).map(str),
                   st.sampled_from(["true", "false", "none", "[1, 2]", "{a = 1}", '"cuda"', "gpu", "-1", "0", "1e9",
                                    "nan", "inf", '"', "=", ""]))


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _one_line_error(err: str, command: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"spertmt {command}: error: "), err
    assert "Traceback" not in err


@SETTINGS
@given(key=st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), value=VALUES)
def test_any_setting_is_checked_before_any_work(key, value, capsys):
    """--set KEY=VALUE with any key and value: a named error before anything is written, or a
    setting that passes (the run then stops on the missing training file, also before any work)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # "--set=" keeps a key that starts with "-" a value; as a separate word argparse would take it for
        # an option and stop with its usage (exit code 2 too), before our checks.
        code = main(["train", "--quiet", f"--set={key}={value}", "--set", f"train_path={folder / 'absent.json'}",
                     "--output", str(folder / "run")])
        err = capsys.readouterr().err
        assert code == 2
        _one_line_error(err, "train")
        assert _files(folder) == set()


INPUTS = st.one_of(st.binary(max_size=200), st.text(max_size=200).map(lambda t: t.encode("utf-8")),
                   st.sampled_from([b"", b"\xff\xfe", b"[", b"{}", b"[{}]", b'[{"tokens": 1}]',
                                    b'{"text": 3}\n', b'{"tokens": ["a", 2]}\n', b'\xef\xbb\xbf{"text": "a"}\n',
                                    b'[{"tokens": ["a"], "entities": [{"type": "Peop", "start": 1, "end": 0}]}]',
                                    b"[1, 2]\n", b'{"sentences": ["ab"]}\n',
                                    b'{"text": "ab", "labels": [[0, 9, "X"]]}\n',
                                    b'{"text": "ab", "entities": [{"id": 1}], "relations": [{"from_id": 1}]}\n',
                                    b'{"text": "ab", "tokens": [{"text": "x", "start": 0, "end": 9}]}\n',
                                    b'{"text": "ab", "spans": [{"start": 0}], "relations": [{"head_span": 1}]}\n',
                                    b"#FORMAT=WebAnno TSV 3.3\n#T_SP=x.NE|value\n\n\n#Text=a\n1-1\t0-1\ta\tX[2]\n",
                                    b"#FORMAT=WebAnno TSV 3.3\n#T_SP=x.NE|value\n#T_RL=x.R|BT_x.NE\n\n\n#Text=a\n"
                                    b"1-1\t0-1\ta\tX\t9-9[1_1]\n"]))


@SETTINGS
@given(content=INPUTS, suffix=st.sampled_from([".json", ".jsonl", ".txt"]))
def test_any_bytes_in_any_command_end_in_a_result_or_a_named_error(content, suffix, capsys):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / f"input{suffix}"
        data.write_bytes(content)
        commands = {
            "predict": ["predict", "--quiet", "--model", MODEL, "--device", "cpu", "--input", str(data),
                        "--output", str(folder / "out.jsonl")],
            "validate": ["validate", str(data), "--types", f"{FIXTURES}/tiny_types.json"],
            "score": ["score", "--gold", str(data), "--pred", str(data), "--types", f"{FIXTURES}/tiny_types.json"],
            "convert": ["convert", "--from", "spert", "--to", "dygie", str(data), str(folder / "out.dygie.json")],
            "convert dygie": ["convert", "--from", "dygie", "--to", "spert", str(data), str(folder / "out.json")],
            "convert doccano": ["convert", "--from", "doccano", "--to", "spert", str(data), str(folder / "out.json")],
            "convert prodigy": ["convert", "--from", "prodigy", "--to", "spert", str(data), str(folder / "out.json")],
            "convert webanno": ["convert", "--from", "webanno", "--to", "spert", str(data), str(folder / "out.json")],
            "split": ["split", str(data), str(folder / "sets")],
        }
        for command, argv in commands.items():
            before = _files(folder)
            code = main(argv)
            err = capsys.readouterr().err
            if code == 2:
                _one_line_error(err, argv[0])
                assert _files(folder) == before, f"{command} left files behind"
            else:
                assert code == 0 or (command == "validate" and code == 1), (command, code, err)  # 1: problems found
                assert "Traceback" not in err
            for made in sorted(_files(folder) - before, reverse=True):  # a result: the next command starts clean
                path = folder / made
                path.rmdir() if path.is_dir() else path.unlink()


@pytest.mark.parametrize("name, content", [
    ("in.jsonl", '{"text": "John works for Acme."}\n'), ("in.txt", "John works for Acme.\n"),
    ("in.json", '[{"tokens": ["John", "works", "for", "Acme", "."], "entities": [], "relations": []}]')])
def test_a_file_with_a_bom_reads_like_one_without(name, content, tmp_path, capsys):
    """Some editors on Windows start UTF-8 files with a BOM."""
    outputs = []
    for folder, bom in (("plain", b""), ("bom", b"\xef\xbb\xbf")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(bom + content.encode())
        assert (
            main(
                [
                    "predict",
                    "--quiet",
                    "--model",
                    MODEL,
                    "--device",
                    "cpu",
                    "--threshold",
                    "-1",
                    "--input",
                    str(tmp_path / folder / name),
                    "--output",
                    str(tmp_path / folder / "out.jsonl"),
                ]
            )
            == 0
        ), capsys.readouterr().err
        outputs.append((tmp_path / folder / "out.jsonl").read_text())
    assert outputs[0] == outputs[1] and '"entities": [{' in outputs[0]
