"""The documentation sources, checked without building the site.

* every registered env gets a page (from its class docstring) that the environments index lists;
* every tutorial is in the tutorials' table of contents and has the parts every tutorial has;
* the README sections that the user guide includes still exist.
"""

from __future__ import annotations

import importlib.util
import itertools
import re
import sys
from pathlib import Path

import pytest
from pettingzoo.env_registry import registration
from pettingzoo.env_registry.spec import EnvSpec

import ompo_envs

DOCS = Path(__file__).resolve().parents[2] / "docs"
README = DOCS.parent / "README.md"
TUTORIALS = DOCS / "tutorials"


def _load_env_pages():
    name = "ompo_docs_env_pages"
    spec = importlib.util.spec_from_file_location(name, DOCS / "_ext" / "env_pages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


env_pages = _load_env_pages()


def _toctree_entries(page: Path) -> list[list[str]]:
    """The entries of every ``{toctree}`` block of a MyST page (options dropped)."""
    blocks = re.findall(r"```\{toctree\}\n(.*?)```", page.read_text(), re.S)
    return [
        [line.strip() for line in block.splitlines() if line.strip() and not line.startswith(":")]
        for block in blocks
    ]


def _cells(text: str) -> list[tuple[list[str], str, int]]:
    """(tags, source, offset) of every code cell of a MyST notebook."""
    cells = []
    for match in re.finditer(r"```\{code-cell\} ipython3\n(.*?)```", text, re.S):
        body = match.group(1)
        tags = re.findall(r"tags: \[([^\]]*)\]", body.split("\n\n")[0])
        names = [t.strip() for t in tags[0].split(",")] if tags else []
        cells.append((names, body, match.start()))
    return cells


# ------------------------------------------------------------------------------ environments
def test_every_registered_env_gets_a_page(tmp_path) -> None:
    pages = env_pages.write_env_pages(tmp_path)
    assert [p.stem for p in pages] == ompo_envs.list_envs()
    out = tmp_path / env_pages.GENERATED_DIR
    catalogue = (out / env_pages.CATALOGUE_FILE).read_text()
    for page in pages:
        text = page.read_text()
        assert text.startswith(f"# {page.stem}\n")
        for section in env_pages.REQUIRED_SECTIONS:
            assert f"\n## {section}\n" in text, (page.stem, section)
        assert f'ompo_envs.make("{page.stem}")' in text
        assert f"[{page.stem}](generated/{page.stem}.md)" in catalogue
    # an env that renders to an image shows it on its page
    assert (out / "Gridworld-v0.png").read_bytes().startswith(b"\x89PNG")
    assert "![Gridworld-v0" in (out / "Gridworld-v0.md").read_text()


def test_subclass_pages_inherit_the_sections_they_do_not_write(tmp_path) -> None:
    doc = env_pages.read_env_doc("GSM8K-v0")
    assert doc.inherited["Description"] == "ReasoningEnv"
    assert "Version History" not in doc.inherited
    assert doc.summary.startswith("``GSM8K-v0``")


def test_the_environments_index_lists_the_generated_pages() -> None:
    index = DOCS / "environments" / "index.md"
    assert ["generated/*"] in _toctree_entries(index)
    assert env_pages.GENERATED_DIR == Path("environments") / "generated"
    assert f"generated/{env_pages.CATALOGUE_FILE}" in index.read_text()


class UndocumentedEnv(ompo_envs.PreferenceGameEnv):
    pass


def test_a_registered_env_without_documentation_fails(monkeypatch, tmp_path) -> None:
    full_id = "ompo/Undocumented-v0"
    spec = EnvSpec(id=full_id, entry_point=f"{__name__}:UndocumentedEnv")
    monkeypatch.setitem(registration.parallel_registry, full_id, spec)
    assert "Undocumented-v0" in ompo_envs.list_envs()
    with pytest.raises(env_pages.EnvDocumentationError, match="no class docstring"):
        env_pages.write_env_pages(tmp_path)
    monkeypatch.setattr(UndocumentedEnv, "__doc__", "Summary.\n\n## Version History\n- v0.\n")
    with pytest.raises(env_pages.EnvDocumentationError, match="Action Space"):
        env_pages.read_env_doc("Undocumented-v0")


def test_docstring_markup_becomes_myst() -> None:
    text = "See :class:`~a.B` and :py:func:`c`::\n\n    AA.B\n    .C.\n\nthen\n>>> 1 + 1\n2\n"
    assert env_pages.docstring_to_myst(text).splitlines() == [
        "See {class}`~a.B` and {func}`c`:",
        "",
        "```text",
        "AA.B",
        ".C.",
        "```",
        "",
        "then",
        "```pycon",
        ">>> 1 + 1",
        "2",
        "```",
    ]


# ------------------------------------------------------------------------------ tutorials
def _tutorial_files() -> list[Path]:
    return sorted(TUTORIALS.glob("[0-9][0-9]_*.md"))


def test_every_tutorial_is_in_the_table_of_contents() -> None:
    files = {p.stem for p in _tutorial_files()}
    assert len(files) >= 6
    listed = [entry for block in _toctree_entries(TUTORIALS / "index.md") for entry in block]
    assert sorted(listed) == sorted(files), "list every docs/tutorials/NN_*.md in its index"
    assert listed == sorted(listed), "keep the tutorials in their numbered order"
    assert any("tutorials/index" in block for block in _toctree_entries(DOCS / "index.md"))


@pytest.mark.parametrize("path", _tutorial_files(), ids=lambda p: p.stem)
def test_tutorial_has_its_parts(path: Path) -> None:
    text = path.read_text()
    assert "kernelspec:" in text and "format_name: myst" in text.split("---")[1]
    prose = re.sub(r"```\{code-cell\}.*?```", "", text, flags=re.S)
    headings = re.findall(r"^(#{1,3}) (.+)$", prose, re.M)
    assert headings[0][0] == "#"
    assert headings[1] == ("##", "What you will be able to do"), "open with what the learner gains"
    assert headings[-1][0] == "###" and ("##", "Exercises") in headings
    cells = _cells(text)
    checks = [body for tags, body, _ in cells if "remove-cell" in tags and "assert" in body]
    assert len(checks) >= 3, "claims are checked by asserts in hidden (remove-cell) cells"
    exercises = [m.start() for m in re.finditer(r"^### Exercise \d", text, re.M)]
    assert 1 <= len(exercises) <= 3
    bounds = [*exercises, len(text)]
    for start, end in itertools.pairwise(bounds):
        solutions = [
            body
            for tags, body, offset in cells
            if start < offset < end and "hide-cell" in tags and "Show solution" in body
        ]
        assert len(solutions) == 1, f"each exercise has one revealable solution ({path.name})"
        assert any(
            start < offset < end and "remove-cell" in tags and "assert" in body
            for tags, body, offset in cells
        ), f"each exercise's solution is checked ({path.name})"


# ------------------------------------------------------------------------------ README pages
def _readme_headings(lines: list[str]) -> list[int]:
    """Line numbers of the README's ``## `` sections (outside fenced code)."""
    headings, fenced = [], False
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            headings.append(number)
    return headings


def test_every_readme_section_is_on_exactly_one_guide_page() -> None:
    lines = README.read_text().splitlines()
    covered: dict[int, list[str]] = {}
    for page in sorted((DOCS / "guide").glob("*.md")):
        text = page.read_text()
        for block in re.findall(r"```\{include\} \.\./\.\./README\.md\n(.*?)```", text, re.S):
            start_marker = re.search(r':start-after: "(.+)"', block).group(1)
            end_marker = re.search(r':end-before: "(.+)"', block)
            assert start_marker in lines, f"{page.name}: README has no line {start_marker!r}"
            first = lines.index(start_marker)
            last = len(lines)
            if end_marker:
                assert end_marker.group(1) in lines, f"{page.name}: no line {end_marker.group(1)!r}"
                last = lines.index(end_marker.group(1))
            for number in _readme_headings(lines):
                if first <= number < last:
                    covered.setdefault(number, []).append(page.name)
    for number in _readme_headings(lines):
        pages = covered.get(number, [])
        assert len(pages) == 1, f"README section {lines[number]!r} is on the guide pages {pages}"
