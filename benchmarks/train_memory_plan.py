"""Memory plan of the paper's 7B run on one 80 GB GPU, from measured activation sizes.

    python benchmarks/train_memory_plan.py            # writes benchmarks/train_memory_plan.json

**What is measured (CPU, seconds).** For tiny Llama/Mistral-shaped models (hidden size h,
MLP width i, 1 and 2 layers, T tokens) the bytes that autograd saves for the backward pass are
summed exactly with ``torch.autograd.graph.saved_tensors_hooks`` during a training forward pass
(the loss of ompo-train: summed answer log-probs), without and with gradient checkpointing. The
difference between 2 and 1 layers is the per-layer cost; dividing by T and by the element size
gives *saved elements per token per layer*. A least-squares fit over the shapes gives
``e(h, i) = a·h + b·i`` (the fit's largest relative residual is reported; a T² term would show
up as a residual growing with T).

**What is computed.** The parameter count of Mistral-7B-Instruct-v0.2 (its config on the meta
device, no weights), the bytes per parameter of each training setup, and the activation memory
``L · e(h, i) · T · 2`` bytes (bf16) per micro-batch of T tokens — plus the logits of the loss
(bf16 logits of the T positions, float32 log-softmax of the answer positions) and, for
generation, the KV cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.environment import numeric_environment

OUT = Path(__file__).with_name("train_memory_plan.json")
GIB = 2**30
#: Mistral-7B-Instruct-v0.2's shapes (its config.json).
MISTRAL = dict(
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=14336,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    max_position_embeddings=32768,
)


def saved_bytes(hidden: int, inter: int, layers: int, tokens: int, checkpointing: bool) -> int:
    """Bytes autograd keeps for backward in one forward pass of the summed log-prob loss."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=256,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4 * tokens,
        tie_word_embeddings=False,
        use_cache=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    if checkpointing:
        model.gradient_checkpointing_enable()
    model.train()
    ids = torch.randint(0, 256, (1, tokens))
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        if not isinstance(tensor, torch.nn.Parameter):
            storage = tensor.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        logits = model(input_ids=ids).logits
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    del logits
    return sum(n for ptr, n in seen.items() if ptr not in parameters)


def per_layer_elements(hidden: int, inter: int, tokens: int, checkpointing: bool) -> float:
    """Saved float32 elements per token for one decoder layer (2-layer minus 1-layer model)."""
    two = saved_bytes(hidden, inter, 2, tokens, checkpointing)
    one = saved_bytes(hidden, inter, 1, tokens, checkpointing)
    return (two - one) / tokens / 4


def mistral_parameters() -> int:
    from transformers import MistralConfig, MistralForCausalLM

    with torch.device("meta"):
        model = MistralForCausalLM(MistralConfig(**MISTRAL))
    return sum(p.numel() for p in model.parameters())


def main() -> None:
    torch.set_num_threads(1)
    shapes = [(h, i, t) for h in (32, 64, 128) for i in (2 * h, 7 * h // 2) for t in (64, 256)]
    rows = []
    for hidden, inter, tokens in shapes:
        rows.append(
            {
                "hidden": hidden,
                "intermediate": inter,
                "tokens": tokens,
                "elements_per_token_layer": per_layer_elements(hidden, inter, tokens, False),
                "elements_per_token_layer_checkpointed": per_layer_elements(
                    hidden, inter, tokens, True
                ),
            }
        )
    fits = {}
    for key in ("elements_per_token_layer", "elements_per_token_layer_checkpointed"):
        x = np.array([[r["hidden"], r["intermediate"]] for r in rows], dtype=np.float64)
        y = np.array([r[key] for r in rows])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        residual = float(np.max(np.abs(x @ coef - y) / y))
        fits[key] = {
            "a_hidden": float(coef[0]),
            "b_intermediate": float(coef[1]),
            "max_relative_residual": residual,
        }

    h, i, layers = (
        MISTRAL["hidden_size"],
        MISTRAL["intermediate_size"],
        MISTRAL["num_hidden_layers"],
    )
    vocab, kv = MISTRAL["vocab_size"], MISTRAL["num_key_value_heads"]
    head_dim = h // MISTRAL["num_attention_heads"]
    n = mistral_parameters()
    bf16 = 2

    def activations(key: str, tokens: int) -> float:
        fit = fits[key]
        return layers * (fit["a_hidden"] * h + fit["b_intermediate"] * i) * tokens * bf16

    def checkpointed(tokens: int) -> float:
        # layer inputs of every layer + one layer recomputed in full during backward
        return (
            activations("elements_per_token_layer_checkpointed", tokens)
            + activations("elements_per_token_layer", tokens) / layers
        )

    def loss_logits(tokens: int, answer_tokens: int) -> float:
        return tokens * vocab * bf16 + 2 * answer_tokens * vocab * 4

    setups = {
        "bf16 weights + bf16 AdamW (ompo-train model.dtype = bfloat16)": 2 + 2 + 2 * 2,
        "fp32 master weights + fp32 AdamW (accelerate mixed_precision = bf16)": 4 + 4 + 2 * 4,
        "ZeRO-3 over 8 GPUs, fp32 master + AdamW (per GPU)": (4 + 4 + 2 * 4) / 8,
    }
    micro = {
        "1 × 2,048 tokens": (2048, 1024),
        "2 × 2,048 tokens": (4096, 2048),
        "1 × 4,096 tokens": (4096, 2048),
    }
    plan = {
        "measured": rows,
        "environment": numeric_environment(),
        "fits": fits,
        "mistral_7b_parameters": n,
        "model_states_gib": {name: n * b / GIB for name, b in setups.items()},
        "activations_gib": {
            label: {
                "no_checkpointing": activations("elements_per_token_layer", t) / GIB,
                "gradient_checkpointing": checkpointed(t) / GIB,
                "loss_logits": loss_logits(t, a) / GIB,
            }
            for label, (t, a) in micro.items()
        },
        "generation_gib": {
            "weights_bf16": n * bf16 / GIB,
            "kv_cache_per_1k_tokens": 2 * layers * kv * head_dim * bf16 * 1024 / GIB,
            "kv_cache_32_sequences_of_4k": 2 * layers * kv * head_dim * bf16 * 32 * 4096 / GIB,
        },
    }
    OUT.write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                k: plan[k]
                for k in (
                    "fits",
                    "mistral_7b_parameters",
                    "model_states_gib",
                    "activations_gib",
                    "generation_gib",
                )
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
