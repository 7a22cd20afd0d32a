"""MkDocs hook: the home page is README.md, written once. `config_table` writes the configuration
reference from `spertmt.Config` itself (every key, its type, default and the comment beside it in
spertmt/config.py); `python experiments/results_tables.py --write` puts it in docs/configuration.md,
so that the file in the repository lists the keys too, and a test fails when it is stale."""

from __future__ import annotations

import dataclasses
import inspect

README = "<!-- readme -->"  # the home page is the repository's README.md, written once


def config_table() -> str:
    from spertmt import config

    source = inspect.getsource(config.Config).splitlines()
    notes: dict[str, str] = {}
    comment: list[str] = []
    for line in source:
        stripped = line.strip()
        if stripped.startswith("#"):
            comment.append(stripped.lstrip("# ").strip())
            continue
        name = stripped.split(":", 1)[0]
        if stripped and ":" in stripped and name.isidentifier() and not stripped.startswith(("def ", "class ", "@")):
            trailing = stripped.split("#", 1)[1].strip() if "#" in stripped else ""
            notes[name] = " ".join(comment + ([trailing] if trailing else []))
        comment = [] if stripped else comment
    rows = ["| key | type | default | choices or range | what it does |", "| --- | --- | --- | --- | --- |"]
    for field in dataclasses.fields(config.Config):
        default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
        allowed = ", ".join(f"`{c}`" for c in config.CHOICES.get(field.name, ()))
        if field.name in config.RANGES:
            low, high, low_in, high_in = config.RANGES[field.name]
            allowed = f"{'[' if low_in else '('}{low:g}, {high:g}{']' if high_in else ')'}"
        note = notes.get(field.name, "").replace("|", "\\|")
        kind = " or ".join(f"`{part.strip()}`" for part in field.type.split("|"))  # no pipe inside a cell
        rows.append(f"| `{field.name}` | {kind} | `{default!r}` | {allowed} | {note} |")
    modes = ", ".join(f"`{mode}`: " + ", ".join(f"{k} {v!r}" for k, v in values.items())
                      for mode, values in config.MODE_DEFAULTS.items())
    return "\n".join(rows) + f"\n\nKeys left unset (`None`) take their mode's default ({modes}).\n"


def on_page_markdown(markdown: str, **kwargs) -> str:
    if README in markdown:
        from pathlib import Path

        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
        markdown = markdown.replace(README, readme.replace("](docs/", "]("))
    return markdown
