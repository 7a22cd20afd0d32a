"""The commands README.md and docs/ show are ones the CLI takes: a renamed flag or command fails
here, not on a newcomer's first try. Whole command lines (in fenced code blocks) must parse;
fragments in running text (`spertmt predict --resume`) must name a command and flags it has."""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from spertmt.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_ENDS = ("|", "||", "&&", ";", "&")  # the spertmt command ends at the first of these
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
COMMAND = re.compile(r"^(?:\S*/)?spertmt (\S.*)")


def _arguments(line: str) -> list[str]:
    """The words after `spertmt` up to a shell operator or redirection."""
    words = []
    for word in shlex.split(line, comments=True)[1:]:
        if word in SHELL_ENDS or word.startswith((">", "2>")):
            break
        words.append(word)
    return words


def documented_commands() -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(page, command line) of every `spertmt ...` line in a fenced block, and of every inline code
    span that starts with `spertmt ` in the running text."""
    whole, fragments = [], []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        name = str(page.relative_to(ROOT))
        for block in FENCE.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                found = COMMAND.match(line.strip().removeprefix("$ "))
                if found:
                    whole.append((name, "spertmt " + found.group(1)))
        for span in re.findall(r"`([^`\n]+)`", FENCE.sub("", text)):
            found = COMMAND.match(span.strip())
            if found and re.match(r"[a-z]", found.group(1)):
                fragments.append((name, "spertmt " + found.group(1)))
    return whole, fragments


WHOLE, FRAGMENTS = documented_commands()


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    return next(a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def test_the_pages_show_commands():
    assert len(WHOLE) >= 20 and len(FRAGMENTS) >= 20  # the patterns still find what they are meant to


@pytest.mark.parametrize(("page", "line"), WHOLE, ids=[f"{p}:{line[:60]}" for p, line in WHOLE])
def test_a_documented_command_line_parses(page, line):
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(_arguments(line))
    except SystemExit as stop:
        assert not stop.code, f"{page}: `{line}` does not parse: {errors.getvalue().strip().splitlines()[-1]}"


def test_documented_fragments_name_commands_and_flags_that_exist():
    commands = _commands()
    wrong = []
    for page, line in FRAGMENTS:
        words = _arguments(line)
        if words[0] not in commands:
            wrong.append(f"{page}: `{line}`: no command {words[0]!r}")
            continue
        flags = {flag for action in commands[words[0]]._actions for flag in action.option_strings}
        wrong += [f"{page}: `{line}`: {words[0]} has no {word}" for word in words[1:]
                  if word.startswith("--") and word.split("=")[0] not in flags]
    assert not wrong, "\n".join(wrong)


def test_every_command_and_picture_is_shown_by_a_page():
    """A section lost in an unrelated edit (the HTML view's, once) leaves a command no page names or
    a picture no page shows."""
    named = {_arguments(line)[0] for _, line in WHOLE + FRAGMENTS}
    assert set(_commands()) - named == set()
    text = "".join(page.read_text(encoding="utf-8") for page in PAGES)
    shown = set(re.findall(r"!\[[^\]]*\]\((?:docs/)?([^)\s]+)\)", text))
    assert {picture.name for picture in (ROOT / "docs").glob("*.png")} - shown == set()


def test_every_public_name_is_in_the_api_reference():
    import spertmt

    reference = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
    assert [name for name in spertmt.__all__ if name not in reference and name != "__version__"] == []
