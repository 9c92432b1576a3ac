"""Sphinx glue for the ompo-envs site: env pages at build start, a time limit per tutorial.

* ``builder-inited``: :func:`env_pages.write_env_pages` writes one page per registered env.
* ``autodoc-process-docstring``: a registered env class's API entry points to its env page (its
  docstring is documented there); other docstrings with Markdown sections (``## Name``, fenced
  code) are turned into reStructuredText rubrics and code blocks, and the ``|`` of the
  docstrings' Unicode maths (``d_h(s, a | s1)``, ``|x|``) is escaped so that reStructuredText
  does not read it as a substitution.
* ``env-updated``: every executed tutorial must have run within ``ompo_tutorial_time_limit``
  seconds (2 minutes on 2 cores is the budget a tutorial gets); a slower one fails the build,
  naming the tutorial and its time.
"""

from __future__ import annotations

from typing import Any

import env_pages
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.errors import ExtensionError
from sphinx.util import logging

logger = logging.getLogger(__name__)


def _write_env_pages(app: Sphinx) -> None:
    pages = env_pages.write_env_pages(app.srcdir)
    app.ompo_env_ids = {env_pages.env_class(p.stem): p.stem for p in pages}
    logger.info(f"[ompo-docs] {len(pages)} environment pages written")


def markdown_sections_to_rst(lines: list[str]) -> list[str]:
    """Turn ``## Name`` headings into rubrics and fenced code into ``code-block`` directives."""
    out: list[str] = []
    fence: str | None = None
    for line in lines:
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                fence = None
                out.append("")
            else:
                out.append("   " + line if line.strip() else "")
        elif stripped.startswith("```"):
            fence = stripped[3:].strip() or "text"
            out += [f".. code-block:: {fence}", ""]
        elif line.startswith("## "):
            out += [f".. rubric:: {line[3:].strip()}", ""]
        else:
            out.append(line)
    return out


def escape_bars(lines: list[str]) -> list[str]:
    """Escape ``|`` outside inline literals and literal blocks (it is maths here, not markup)."""
    out: list[str] = []
    literal_indent: int | None = None  # indentation of the line that opened a literal block
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not line.strip() or indent > literal_indent:
                out.append(line)
                continue
            literal_indent = None
        parts = line.split("``")
        parts[::2] = [part.replace("|", "\\|") for part in parts[::2]]
        out.append("``".join(parts))
        stripped = line.rstrip()
        if stripped.endswith("::") or stripped.lstrip().startswith(".. code-block::"):
            literal_indent = indent
    return out


def _process_docstring(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    env_id = getattr(app, "ompo_env_ids", {}).get(obj) if what == "class" else None
    if env_id is not None:
        summary = lines[0] if lines else ""
        lines[:] = [
            summary,
            "",
            f"The environment ``{env_id}``, documented on its page "
            f":doc:`/environments/generated/{env_id}`.",
        ]
        return
    if any(line.startswith("## ") or line.strip().startswith("```") for line in lines):
        lines[:] = markdown_sections_to_rst(lines)
    lines[:] = escape_bars(lines)


def _check_tutorial_times(app: Sphinx, env: BuildEnvironment) -> list[str]:
    from myst_nb.sphinx_ import NbMetadataCollector

    limit = app.config.ompo_tutorial_time_limit
    slow = []
    for docname in sorted(env.found_docs):
        data = NbMetadataCollector.get_exec_data(env, docname)
        if not data or data.get("runtime") is None:
            continue
        runtime = float(data["runtime"])
        logger.info(f"[ompo-docs] {docname} executed in {runtime:.1f} s")
        if runtime > limit:
            slow.append(f"{docname} ({runtime:.0f} s)")
    if slow:
        raise ExtensionError(
            f"tutorials over the {limit} s limit: {', '.join(slow)}; make them cheaper "
            "(fewer updates, smaller games) or move the long part to a benchmark"
        )
    return []


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the hooks and the ``ompo_tutorial_time_limit`` setting (seconds)."""
    app.add_config_value("ompo_tutorial_time_limit", 120, "env", types=[int, float])
    app.connect("builder-inited", _write_env_pages)
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)
    app.connect("env-updated", _check_tutorial_times)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
