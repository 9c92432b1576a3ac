"""Write a tiny, randomly initialised checkpoint in the published ``llm-blender/PairRM`` format.

Tests and benchmarks need a PairRM checkpoint without downloading 1.7 GB of weights. This module
writes one on the fly, with the same files, config keys and state-dict key names as the published
checkpoint, only with a 2-layer DeBERTa-v2 of hidden size 32 and a sentencepiece vocabulary of a
few dozen pieces trained locally on a handful of sentences.

Layout written under ``directory`` (the published repositories have the same files)::

    deberta-v3-tiny/          # stands in for "microsoft/deberta-v3-large", the backbone
        config.json           # DebertaV2Config (model_type "deberta-v2")
        model.safetensors     # backbone weights (overwritten by the PairRM state dict on load)
        spm.model             # sentencepiece unigram model: [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3
        tokenizer_config.json # {"do_lower_case": false, "vocab_type": "spm"}
    PairRM/                   # stands in for "llm-blender/PairRM"
        config.json           # llm-blender RankerConfig: ranker_type "pairranker", model_type
        ranker_config.json    #   "deberta", model_name = the backbone, source/candidate maxlength
        model.safetensors     # keys "pretrained_model.<DebertaV2Model key>" and
                              #   "head_layer.{1,4}.{weight,bias}"
        spm.model, tokenizer.json, tokenizer_config.json,
        added_tokens.json     # [MASK] = |spm|, then <|source|>, <|candidate1|>, <|candidate2|>,
        special_tokens_map.json  <|candidate|> (ids |spm|+1 ... |spm|+4), as PairRM adds them

The weights are drawn from an explicit ``torch.Generator`` at a scale that makes the pairwise
logits of order one, so agreement tests between implementations are not trivially satisfied.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

#: The four marker tokens PairRM adds to the DeBERTa-v3 vocabulary, in the order it adds them.
PAIRRM_MARKERS = ("<|source|>", "<|candidate1|>", "<|candidate2|>", "<|candidate|>")

#: Sentences the tiny sentencepiece model is trained on (any text works; these cover the tests).
_TRAINING_TEXT = (
    "Hello, how are you today? I am fine, thank you for asking!",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Explain the Nash equilibrium of a two-player constant-sum game in simple words.",
    "Write a short poem about the sea, the wind and the stars at night.",
    "USER: What is the capital of France?\nAssistant: <Response 1>",
    "<Response 1>: The capital of France is Paris. <Response 2>: It is a large city.",
    "Finish the following coversation in each i-th turn by filling in <Response i> with your "
    "response.",
    "Sure! Here is a recipe: mix flour, water, salt and yeast, then bake for 30 minutes.",
    "No, I cannot help with that request. Please ask something else.",
    "Numbers 0 1 2 3 4 5 6 7 8 9 and symbols ( ) [ ] { } < > | : ; . , ! ? ' \" - + = / * _",
)


def _require_torch_stack() -> None:
    try:
        import safetensors  # noqa: F401
        import sentencepiece  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "build_tiny_pairrm_checkpoint needs torch, transformers, safetensors and "
            'sentencepiece; install them with: pip install "ompo-envs[torch]"'
        ) from error


def _train_sentencepiece(vocab_size: int) -> bytes:
    import sentencepiece as spm

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_TRAINING_TEXT * 8),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="unigram",
        hard_vocab_limit=False,
        character_coverage=1.0,
        # DeBERTa-v3's sentencepiece layout: [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3.
        pad_id=0,
        pad_piece="[PAD]",
        bos_id=1,
        bos_piece="[CLS]",
        eos_id=2,
        eos_piece="[SEP]",
        unk_id=3,
        unk_piece="[UNK]",
        num_threads=1,
        minloglevel=2,
    )
    return buffer.getvalue()


def build_tiny_pairrm_checkpoint(
    directory: str | os.PathLike[str],
    seed: int = 0,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    num_heads: int = 2,
    source_maxlength: int = 1224,
    candidate_maxlength: int = 412,
) -> Path:
    """Write a tiny random checkpoint in llm-blender/PairRM's published format.

    Args:
        directory: Folder to write into (created if missing); it receives ``PairRM/`` and
            ``deberta-v3-tiny/`` (the backbone, referenced by ``model_name`` in the config).
        seed: Seed of the ``torch.Generator`` that draws every weight; the same seed gives
            byte-identical weights.
        hidden_size: DeBERTa hidden size (multiple of ``num_heads``).
        num_layers: Number of DeBERTa layers.
        num_heads: Number of attention heads.
        source_maxlength: ``source_maxlength`` written to the ranker config (PairRM: 1224).
        candidate_maxlength: ``candidate_maxlength`` written to the ranker config (PairRM: 412).

    Returns:
        The path of the ``PairRM/`` checkpoint folder, loadable with
        ``ompo_envs.oracles.PairRM(path)`` and with llm-blender's ``Blender.loadranker(path)``.

    Raises:
        ValueError: A size is not a positive integer or ``hidden_size`` is not a multiple of
            ``num_heads``.
    """
    for name, value in (
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("source_maxlength", source_maxlength),
        ("candidate_maxlength", candidate_maxlength),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if hidden_size % num_heads:
        raise ValueError(
            f"hidden_size ({hidden_size}) must be a multiple of num_heads ({num_heads})"
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an integer, got {type(seed).__name__}")
    _require_torch_stack()
    import sentencepiece as spm
    import torch
    from safetensors.torch import save_file
    from transformers import DebertaV2Config, DebertaV2Model, DebertaV2Tokenizer

    root = Path(directory)
    backbone_dir = root / "deberta-v3-tiny"
    pairrm_dir = root / "PairRM"
    backbone_dir.mkdir(parents=True, exist_ok=True)
    pairrm_dir.mkdir(parents=True, exist_ok=True)

    # --- tokenizer: sentencepiece unigram model, then [MASK], then PairRM's four markers.
    spm_bytes = _train_sentencepiece(vocab_size=160)
    processor = spm.SentencePieceProcessor(model_proto=spm_bytes)
    pieces = [
        (processor.id_to_piece(i), float(processor.get_score(i)))
        for i in range(processor.get_piece_size())
    ]
    for folder in (backbone_dir, pairrm_dir):
        (folder / "spm.model").write_bytes(spm_bytes)
    (backbone_dir / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": False, "vocab_type": "spm"}, indent=2) + "\n"
    )
    tokenizer = DebertaV2Tokenizer(vocab=pieces, do_lower_case=False)
    mask_id = tokenizer.convert_tokens_to_ids("[MASK]")
    tokenizer.add_tokens(list(PAIRRM_MARKERS))
    tokenizer.save_pretrained(str(pairrm_dir))
    added = {"[MASK]": mask_id}
    added.update({token: tokenizer.convert_tokens_to_ids(token) for token in PAIRRM_MARKERS})
    (pairrm_dir / "added_tokens.json").write_text(json.dumps(added, indent=2, sort_keys=True))
    special = {
        "bos_token": "[CLS]",
        "cls_token": "[CLS]",
        "eos_token": "[SEP]",
        "mask_token": "[MASK]",
        "pad_token": "[PAD]",
        "sep_token": "[SEP]",
        "unk_token": "[UNK]",
    }
    (pairrm_dir / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    n_tokens = len(tokenizer)

    # --- backbone: DeBERTa-v3 architecture (relative attention, no absolute positions).
    config = DebertaV2Config(
        vocab_size=-(-(mask_id + 1) // 64) * 64 + 64,  # padded, like deberta-v3's 128100
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=2 * hidden_size,
        hidden_act="gelu",
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
        max_position_embeddings=512,
        type_vocab_size=0,
        initializer_range=0.02,
        layer_norm_eps=1e-7,
        relative_attention=True,
        max_relative_positions=-1,
        position_buckets=256,
        norm_rel_ebd="layer_norm",
        share_att_key=True,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        pad_token_id=0,
        pooler_hidden_size=hidden_size,
        pooler_dropout=0,
        pooler_hidden_act="gelu",
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone = DebertaV2Model(config)
    _randomise(backbone, generator)
    config.save_pretrained(str(backbone_dir))
    save_file(
        {key: value.contiguous() for key, value in backbone.state_dict().items()},
        str(backbone_dir / "model.safetensors"),
        metadata={"format": "pt"},
    )

    # --- PairRM state dict: the backbone resized to the tokenizer, plus the pairwise head
    # nn.Sequential(Dropout, Linear(2H, H), Tanh, Dropout, Linear(H, n_tasks)).
    state = {
        f"pretrained_model.{key}": value.detach().clone().contiguous()
        for key, value in backbone.state_dict().items()
    }
    # llm-blender resizes the backbone's (padded) vocabulary to len(tokenizer), as PairRM has it.
    key = "pretrained_model.embeddings.word_embeddings.weight"
    state[key] = state[key][:n_tokens].contiguous()
    scale = hidden_size**-0.5
    w1 = torch.randn(hidden_size, 2 * hidden_size, generator=generator)
    state["head_layer.1.weight"] = w1 * (2.0 * scale)
    state["head_layer.1.bias"] = torch.randn(hidden_size, generator=generator) * 0.1
    state["head_layer.4.weight"] = torch.randn(1, hidden_size, generator=generator) * (8.0 * scale)
    state["head_layer.4.bias"] = torch.randn(1, generator=generator) * 0.1
    save_file(state, str(pairrm_dir / "model.safetensors"), metadata={"format": "pt"})

    ranker_config = {
        "ranker_type": "pairranker",
        "model_type": "deberta",
        "model_name": str(backbone_dir.resolve()),
        "cache_dir": None,
        "load_checkpoint": None,
        "source_maxlength": source_maxlength,
        "candidate_maxlength": candidate_maxlength,
        "n_tasks": 1,
        "num_pos": 5,
        "num_neg": 5,
        "sub_sampling_mode": "all_pair",
        "sub_sampling_ratio": 0.4,
        "loss_type": "instructgpt",
        "reduce_type": "linear",
        "inference_mode": "bubble",
        "drop_out": 0.05,
        "fp16": True,
    }
    for name in ("config.json", "ranker_config.json"):
        (pairrm_dir / name).write_text(json.dumps(ranker_config, indent=4) + "\n")
    return pairrm_dir


def _randomise(model: object, generator: object) -> None:
    """Redraw every parameter at a scale that keeps activations of order one."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():  # type: ignore[attr-defined]
            noise = torch.randn(parameter.shape, generator=generator)
            if "LayerNorm" in name and name.endswith("weight"):
                parameter.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                parameter.copy_(0.1 * noise)
            elif parameter.dim() == 2 and "embeddings" not in name:
                parameter.copy_(noise * parameter.shape[1] ** -0.5)
            else:
                parameter.copy_(noise)
