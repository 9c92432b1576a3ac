"""The shipped ``ompo-train`` configs (package data, so they work from a fresh install)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["CONFIG_DIR", "list_configs", "shipped_config"]

#: Folder of the shipped ``*.toml`` configs.
CONFIG_DIR = Path(__file__).resolve().parent


def list_configs() -> list[str]:
    """Return the names of the shipped configs (file stems), sorted."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def shipped_config(name: str) -> Path | None:
    """Return the path of the shipped config ``name`` (with or without ``.toml``), or None."""
    stem = name.removesuffix(".toml")
    path = CONFIG_DIR / f"{stem}.toml"
    return path if path.exists() else None
