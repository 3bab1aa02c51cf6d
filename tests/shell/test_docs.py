"""The user's documentation stands on its own: nothing points outside the repository."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_cites_nothing_outside_the_clone():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "../shared" not in text


def test_readme_links_to_files_that_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#:]+)\)", text)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert links and not missing, missing
