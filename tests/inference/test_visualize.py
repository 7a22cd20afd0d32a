"""The HTML view: built from predictions and gold, then rendered in headless Chromium and checked
on the screen (the colours of entity types, and error marks only where there are errors)."""

import copy
import shutil
import subprocess

import pytest

from spertmt.data.documents import Entity, read_documents, read_types
from spertmt.inference.visualize import ERROR, PALETTE, render_html

from ..conftest import FIXTURES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def data():
    types = read_types(f"{FIXTURES}/tiny_types.json")
    gold = read_documents(f"{FIXTURES}/tiny_train.json", types)
    wrong = copy.deepcopy(gold)
    wrong[0].entities.append(Entity(2, 3, "Org"))  # a false positive
    wrong[1].relations.pop()  # a missed relation
    return types, gold, wrong


def test_html_marks_errors(data):
    types, gold, wrong = data
    page = render_html(wrong, gold, types)
    assert page.count("<svg") == 2 * len(gold)  # predicted and gold rows
    assert "Org ✗" in page and "Work_For ✗" in page  # the false positive and the missed relation
    assert "<td>10</td><td>1</td><td>0</td>" in page  # entities: correct, false positives, missed
    clean = render_html(gold, gold, types)
    assert "✗" not in clean and ERROR not in clean
    with pytest.raises(ValueError, match="document 0"):
        render_html([copy.deepcopy(gold[1])] + gold[1:], gold, types)


def _screenshot(html: str, tmp_path, name: str):
    from PIL import Image

    page = tmp_path / f"{name}.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / f"{name}.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={tmp_path / 'profile'}", "--hide-scrollbars", f"--screenshot={png}",
                    "--window-size=900,1400", page.as_uri()], check=True, capture_output=True, timeout=120)
    return Image.open(png).convert("RGB")


def _pixels_near(image, hex_color: str, tolerance: int = 12) -> int:
    import numpy as np

    target = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int(np.all(np.abs(np.asarray(image, dtype=int) - target) <= tolerance, axis=-1).sum())


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian package: chromium)")
def test_rendered_page_shows_types_and_errors(data, tmp_path):
    types, gold, wrong = data
    with_errors = _screenshot(render_html(wrong, gold, types), tmp_path, "errors")
    clean = _screenshot(render_html(gold, gold, types), tmp_path, "clean")
    # Entity boxes of every type are on the screen (fill-opacity 0.75 over white: a lighter shade).
    for k in range(len(types.entities)):
        color = PALETTE[k]
        blended = "#" + "".join(f"{round(0.75 * int(color[i:i + 2], 16) + 0.25 * 255):02x}" for i in (1, 3, 5))
        assert _pixels_near(clean, blended) > 200, types.entities[k].name
    # Red error marks appear only on the page with errors.
    assert _pixels_near(with_errors, ERROR, 40) > 50
    assert _pixels_near(clean, ERROR, 40) == 0
