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

**LoRA (``[model] lora``).** The same measurement with a LoRA adapter (peft, as ompo-train
attaches it: base frozen, ``enable_input_require_grads`` under checkpointing) of rank r ∈ {4, 16}
on ``q_proj`` + ``v_proj`` and on every linear layer of the decoder, fitted as
``bytes(h, i, r) = a·h + b·i + c·r`` per token and layer, per target set, measured on bf16
models (peft keeps the adapter in float32 and casts its input, so not every saved tensor is
bf16): a frozen layer keeps only what the backward pass to the adapters below it needs.

**What is computed.** The parameter count of Mistral-7B-Instruct-v0.2 (its config on the meta
device, no weights), the bytes per parameter of each training setup, and the activation memory
``L · e(h, i) · T · 2`` bytes (bf16) per micro-batch of T tokens — plus the logits of the loss
(bf16 logits of the T positions, float32 log-softmax of the answer positions) and, for
generation, the KV cache. With LoRA: the bf16 base (frozen: no gradient, no optimiser state),
the adapter's parameters counted from the meta model's target layers (r · (d_in + d_out) each),
kept in float32 (peft's default) with float32 gradients and AdamW states (16 B per adapter
parameter), and the LoRA activation fit.
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


#: The LoRA target sets of the plan: attention q/v (peft's usual choice) and every linear layer
#: of the decoder blocks.
LORA_TARGETS = {
    "q_proj + v_proj": ("q_proj", "v_proj"),
    "all linear layers": (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ),
}
#: Ranks of the plan's LoRA rows, per target set.
LORA_PLAN = {"q_proj + v_proj": 8, "all linear layers": 16}


def saved_bytes(
    hidden: int,
    inter: int,
    layers: int,
    tokens: int,
    checkpointing: bool,
    lora: tuple[int, tuple[str, ...]] | None = None,
    dtype: torch.dtype = torch.float32,
) -> int:
    """Bytes autograd keeps for backward in one forward pass of the summed log-prob loss.

    ``lora = (r, target_modules)``: with a LoRA adapter attached as ompo-train attaches it (to
    the model in ``dtype``; peft keeps the adapter in float32).
    """
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
    model = LlamaForCausalLM(config).to(dtype)
    if checkpointing:
        model.gradient_checkpointing_enable()
    if lora is not None:
        from ompo_envs.lm.lora import LoraSettings, attach_adapter

        if checkpointing:
            model.enable_input_require_grads()
        r, targets = lora
        model = attach_adapter(
            model, LoraSettings(r=r, alpha=2 * r, target_modules=targets), seed=0
        )
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


def per_layer_lora_bytes(
    hidden: int, inter: int, tokens: int, checkpointing: bool, lora: tuple[int, tuple[str, ...]]
) -> float:
    """Saved bytes per token for one decoder layer of a bf16 model with a LoRA adapter.

    Measured in bf16 itself: peft runs a float32 adapter on a float32 copy of its input, so the
    saved tensors are not all of the model's dtype.
    """
    two = saved_bytes(hidden, inter, 2, tokens, checkpointing, lora, torch.bfloat16)
    one = saved_bytes(hidden, inter, 1, tokens, checkpointing, lora, torch.bfloat16)
    return (two - one) / tokens


def lora_parameters(model: torch.nn.Module, r: int, targets: tuple[str, ...]) -> int:
    """Parameters of a rank-r adapter on ``targets``: r · (d_in + d_out) per target layer."""
    return sum(
        r * (module.in_features + module.out_features)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and name.rsplit(".", 1)[-1] in targets
    )


def fit(rows: list[dict], key: str, regressors: tuple[str, ...]) -> dict[str, float]:
    """Least squares of ``row[key]`` on the regressors (no intercept), with the residual."""
    x = np.array([[r[name] for name in regressors] for r in rows], dtype=np.float64)
    y = np.array([r[key] for r in rows])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    out = {f"coef_{name}": float(c) for name, c in zip(regressors, coef, strict=True)}
    out["max_relative_residual"] = float(np.max(np.abs(x @ coef - y) / y))
    return out


def mistral_meta() -> torch.nn.Module:
    """Mistral-7B-Instruct-v0.2 on the meta device (shapes only, no weights)."""
    from transformers import MistralConfig, MistralForCausalLM

    with torch.device("meta"):
        return MistralForCausalLM(MistralConfig(**MISTRAL))


def mistral_parameters() -> int:
    return sum(p.numel() for p in mistral_meta().parameters())


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
    lora_rows = []
    for target_name, targets in LORA_TARGETS.items():
        for hidden, inter, tokens in shapes:
            for r in (4, 16):
                lora = (r, targets)
                lora_rows.append(
                    {
                        "targets": target_name,
                        "r": r,
                        "hidden": hidden,
                        "intermediate": inter,
                        "tokens": tokens,
                        "bytes_per_token_layer": per_layer_lora_bytes(
                            hidden, inter, tokens, False, lora
                        ),
                        "bytes_per_token_layer_checkpointed": per_layer_lora_bytes(
                            hidden, inter, tokens, True, lora
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
    lora_fits = {
        target_name: {
            key: fit(
                [row for row in lora_rows if row["targets"] == target_name],
                key,
                ("hidden", "intermediate", "r"),
            )
            for key in ("bytes_per_token_layer", "bytes_per_token_layer_checkpointed")
        }
        for target_name in LORA_TARGETS
    }
    meta = mistral_meta()

    def lora_activations(target_name: str, key: str, r: int, tokens: int) -> float:
        coef = lora_fits[target_name][key]
        per_token = coef["coef_hidden"] * h + coef["coef_intermediate"] * i + coef["coef_r"] * r
        return layers * per_token * tokens

    lora_plan = {}
    for target_name, r in LORA_PLAN.items():
        count = lora_parameters(meta, r, LORA_TARGETS[target_name])
        label = f"r = {r}, {target_name}"
        lora_plan[label] = {
            "adapter_parameters": count,
            "frozen_bf16_base_gib": n * bf16 / GIB,
            "adapter_fp32_weights_grads_adamw_gib": count * (4 + 4 + 2 * 4) / GIB,
            "activations_gib": {
                micro_label: {
                    "no_checkpointing": lora_activations(target_name, "bytes_per_token_layer", r, t)
                    / GIB,
                    "gradient_checkpointing": (
                        lora_activations(target_name, "bytes_per_token_layer_checkpointed", r, t)
                        + lora_activations(target_name, "bytes_per_token_layer", r, t) / layers
                    )
                    / GIB,
                    "loss_logits": loss_logits(t, a) / GIB,
                }
                for micro_label, (t, a) in micro.items()
            },
        }
    plan = {
        "measured": rows,
        "measured_lora": lora_rows,
        "environment": numeric_environment(),
        "fits": fits,
        "lora_fits": lora_fits,
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
        "lora_gib": lora_plan,
    }
    OUT.write_text(json.dumps(plan, indent=1) + "\n", encoding="utf-8")
    print(
        json.dumps(
            {
                k: plan[k]
                for k in (
                    "fits",
                    "lora_fits",
                    "mistral_7b_parameters",
                    "model_states_gib",
                    "activations_gib",
                    "generation_gib",
                    "lora_gib",
                )
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
