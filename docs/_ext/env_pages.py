"""One documentation page per registered environment, written from its class docstring.

As on PettingZoo's and Gymnasium's sites, an environment's class docstring *is* its
documentation: fixed Markdown sections (``## Description``, ``## Action Space``, …). This module
reads every id from :func:`ompo_envs.list_envs` (so a newly registered env gets a page without
anyone touching the docs), turns its docstring into a MyST page, and writes a catalogue table
for the environments index. Sections a subclass does not write are taken from the nearest base
class that does (``GSM8K-v0`` documents only its data; ``ReasoningEnv`` documents the game).

Nothing here imports Sphinx, so the tests can check the pages without building the site.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass
from pathlib import Path

import ompo_envs
from ompo_envs.envs.tabular_env import TabularGameEnv
from ompo_envs.registration import NAMESPACE

#: The sections every env page must have (own or inherited), in Gymnasium's order.
REQUIRED_SECTIONS = ("Description", "Action Space", "Observation Space", "Rewards")
#: Where generated pages go, relative to the docs source directory.
GENERATED_DIR = Path("environments") / "generated"
#: The catalogue table included by ``environments/index.md`` (underscore: not a page itself).
CATALOGUE_FILE = "_catalogue.md"

_SECTION = re.compile(r"^## (.+)$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(\w+):`")


class EnvDocumentationError(ValueError):
    """A registered environment's class docstring cannot make a documentation page."""


@dataclass(frozen=True)
class EnvDoc:
    """What an env page says: the id, the class, and its docstring split into sections."""

    env_id: str
    cls: type
    summary: str
    intro: str
    sections: dict[str, str]
    inherited: dict[str, str]
    """Section name -> name of the base class it was taken from."""

    @property
    def kind(self) -> str:
        """``"tabular"`` (exact model at ``env.unwrapped.game``) or ``"text"``."""
        return "tabular" if issubclass(self.cls, TabularGameEnv) else "text"

    @property
    def page_name(self) -> str:
        """File stem of the page: the id itself (``Gridworld-v0``)."""
        return self.env_id


def env_class(env_id: str) -> type:
    """Import the class a registered short id points to (from PettingZoo's registry)."""
    from pettingzoo.env_registry import registration

    entry_point = registration.parallel_registry[f"{NAMESPACE}/{env_id}"].entry_point
    if not isinstance(entry_point, str):
        return entry_point
    module, _, name = entry_point.partition(":")
    return getattr(importlib.import_module(module), name)


def _split_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Return (text before the first ``## `` heading, {heading: body})."""
    parts = _SECTION.split(doc)
    intro, rest = parts[0], parts[1:]
    return intro.strip(), {
        name.strip(): body.strip() for name, body in zip(rest[::2], rest[1::2], strict=True)
    }


def read_env_doc(env_id: str) -> EnvDoc:
    """Read the documentation of one registered env, inheriting missing sections from bases.

    Raises:
        EnvDocumentationError: The class has no docstring, no summary line, no
            ``## Version History`` of its own, or a required section (own or inherited) is
            missing.
    """
    cls = env_class(env_id)
    own = inspect.cleandoc(cls.__doc__ or "")
    if not own:
        raise EnvDocumentationError(
            f"{env_id} ({cls.__module__}.{cls.__qualname__}) has no class docstring: write one "
            f"with the sections {', '.join(REQUIRED_SECTIONS)} and Version History"
        )
    intro, sections = _split_docstring(own)
    summary = intro.split("\n\n")[0].replace("\n", " ").strip()
    body_intro = intro[len(intro.split("\n\n")[0]) :].strip()
    if "Version History" not in sections:
        raise EnvDocumentationError(
            f"{env_id}: the docstring of {cls.__qualname__} needs its own '## Version History'"
        )
    inherited: dict[str, str] = {}
    for base in cls.__mro__[1:]:
        if not base.__doc__ or base.__module__.startswith(("pettingzoo", "gymnasium")):
            continue
        _, base_sections = _split_docstring(inspect.cleandoc(base.__doc__))
        for name, body in base_sections.items():
            if name not in sections and name != "Version History":
                sections[name] = body
                inherited[name] = base.__qualname__
    missing = [name for name in REQUIRED_SECTIONS if name not in sections]
    if missing:
        raise EnvDocumentationError(
            f"{env_id}: the docstring of {cls.__qualname__} (or a base class) lacks the "
            f"section(s) {missing}; add them as '## Name' headings"
        )
    return EnvDoc(env_id, cls, summary, body_intro, sections, inherited)


def docstring_to_myst(text: str) -> str:
    """Turn docstring markup into MyST Markdown.

    Sphinx roles (``:class:`X```) become MyST roles (``{class}`X```), a literal block announced
    by ``::`` becomes a fenced block, and ``>>>`` examples become ``pycon`` blocks.
    """
    text = _ROLE.sub(lambda m: "{" + m.group(1) + "}`", text)
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::") and not line.lstrip().startswith(("```", ">>>")):
            out.append(line.rstrip()[:-1])  # "is::" -> "is:"
            i += 1
            while i < len(lines) and not lines[i].strip():
                i += 1
            block = []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["", "```text", *block, "```", ""]
            continue
        if line.startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            out += ["```pycon", *block, "```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _signature(cls: type) -> str:
    """``ClassName(arg=default, ...)`` of the constructor, one argument per line."""
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    rendered = [str(p).replace("'", '"') for p in parameters]
    return f"{cls.__name__}(\n" + "".join(f"    {p},\n" for p in rendered) + ")"


def env_page(doc: EnvDoc, image: str | None = None) -> str:
    """Return the MyST page of one env."""
    cls, env_id = doc.cls, doc.env_id
    modes = ", ".join(f"`{m}`" for m in cls.metadata.get("render_modes", [])) or "none"
    kind = (
        "tabular game with an exact model (`env.unwrapped.game`)"
        if doc.kind == "tabular"
        else "text game; rewards from a preference oracle"
    )
    lines = [
        f"# {env_id}",
        "",
        docstring_to_myst(doc.summary),
        "",
        "| | |",
        "|---|---|",
        f'| Make | `ompo_envs.make("{env_id}")` or '
        f'`pettingzoo.make("parallel", "{NAMESPACE}/{env_id}")` |',
        f"| Class | {{py:class}}`{cls.__module__}.{cls.__qualname__}` |",
        f"| Kind | {kind} |",
        f"| Render modes | {modes} |",
        "",
    ]
    if image is not None:
        lines += [f"![{env_id}, rendered after reset(seed=0)]({image})", ""]
    if doc.intro:
        lines += [docstring_to_myst(doc.intro), ""]
    for name, body in doc.sections.items():
        lines += [f"## {name}", ""]
        if name in doc.inherited:
            lines += [f"*As for every {doc.inherited[name]}:*", ""]
        lines += [docstring_to_myst(body), ""]
    lines += ["## Constructor", "", "```python", _signature(cls), "```", ""]
    return "\n".join(lines)


def catalogue(docs: list[EnvDoc]) -> str:
    """Return the Markdown table of every env: id (linked), kind, render modes, summary."""
    order = sorted(docs, key=lambda d: (d.kind != "tabular", d.env_id))
    rows = ["| id | kind | summary |", "|---|---|---|"]
    for doc in order:
        summary = docstring_to_myst(doc.summary).replace("|", "\\|")
        rows.append(f"| [{doc.env_id}](generated/{doc.page_name}.md) | {doc.kind} | {summary} |")
    return "\n".join(rows) + "\n"


def _write_if_changed(path: Path, content: str | bytes) -> None:
    data = content.encode() if isinstance(content, str) else content
    if not path.exists() or path.read_bytes() != data:
        path.write_bytes(data)


def _render_image(cls: type, path: Path) -> None:
    """Save the env's ``rgb_array`` frame after ``reset(seed=0)`` as a PNG."""
    import io

    import matplotlib.image

    env = cls(render_mode="rgb_array")
    env.reset(seed=0)
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, env.render(), format="png")
    _write_if_changed(path, buffer.getvalue())


def write_env_pages(source_dir: str | Path) -> list[Path]:
    """Write one page per registered env (and the catalogue) under ``source_dir``.

    Pages of envs no longer registered are removed. Files are rewritten only when their content
    changes, so Sphinx re-reads only what changed.

    Returns:
        The page paths, in :func:`ompo_envs.list_envs` order.
    """
    out = Path(source_dir) / GENERATED_DIR
    out.mkdir(parents=True, exist_ok=True)
    docs = [read_env_doc(env_id) for env_id in ompo_envs.list_envs()]
    pages = []
    keep = {CATALOGUE_FILE}
    for doc in docs:
        image = None
        if "rgb_array" in doc.cls.metadata.get("render_modes", []):
            image = f"{doc.page_name}.png"
            _render_image(doc.cls, out / image)
            keep.add(image)
        page = out / f"{doc.page_name}.md"
        _write_if_changed(page, env_page(doc, image))
        keep.add(page.name)
        pages.append(page)
    _write_if_changed(out / CATALOGUE_FILE, catalogue(docs))
    for stale in out.iterdir():
        if stale.name not in keep:
            stale.unlink()
    return pages
