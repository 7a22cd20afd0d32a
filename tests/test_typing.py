"""The package ships py.typed; mypy checks its typed front and a user's script against the public
API (pyproject.toml, [tool.mypy]), and a script that misuses the API fails, so the types are real
(not Any) where a user meets them."""

from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]


def _mypy(*args: str) -> tuple[str, int]:
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir",
                                str(ROOT / ".mypy_cache"), *args])
    return out + err, status


def test_the_public_api_type_checks():
    assert (ROOT / "src" / "spertmt" / "py.typed").exists()
    out, status = _mypy()
    assert status == 0, out


def test_misuse_of_the_public_api_is_caught(tmp_path):
    script = tmp_path / "misuse.py"
    script.write_text('import spertmt\n'
                      'count: int = spertmt.load("runs/demo/best")\n'
                      'start: str = spertmt.load("m").extract("a")[0].entities[0].start\n'
                      'config = spertmt.Config(epochs="3")\n')
    out, status = _mypy(str(script))
    assert status == 1
    assert 'has type "Extractor", variable has type "int"' in out
    assert 'has type "int | None", variable has type "str"' in out
    assert 'Argument "epochs" to "Config" has incompatible type "str"; expected "int"' in out
