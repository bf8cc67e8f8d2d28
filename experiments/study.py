"""What the study scripts in experiments/ share."""

from __future__ import annotations

from pathlib import Path

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def update_readme(readme: Path, text: str) -> None:
    """Replace the block between the results markers of ``readme`` with ``text`` (nothing
    happens without the file or its markers)."""
    if not readme.exists():
        return
    body = readme.read_text()
    if BEGIN in body and END in body:
        head, rest = body.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        readme.write_text(f"{head}{BEGIN}\n{text}{END}{tail}")
