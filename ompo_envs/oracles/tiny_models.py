"""Build tiny random models + tokenizer on disk, for offline tests of the model-based oracles.

Nothing is downloaded: a byte-level BPE tokenizer is trained on a handful of sentences and a
2-layer Llama with random weights is saved next to it — a causal LM
(:func:`build_tiny_causal_lm`), a sequence-classification reward model
(:func:`build_tiny_reward_model`) or a preference-embedding model
(:func:`build_tiny_general_preference_model`). The models are useless as judges; they only let
tests run the real loading, prompting and batching code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

_INSTALL_HINT = 'install it with: pip install "ompo-envs[torch]"'
T = TypeVar("T")

#: Sentences the tiny tokenizer is trained on (the pair-preference and judge prompt vocabulary).
CORPUS = (
    "[CONTEXT] [RESPONSE A] [RESPONSE B] A B",
    "<turn> user <turn> assistant",
    "What is the capital of France? Paris is the capital of France.",
    "Rock, paper or scissors? I choose rock. Paper beats rock.",
    "Please act as an impartial judge. Rating: [[7]] Rating: [[10]]",
    "The dialogue need to be judged is: Human: Assistant:",
    "one two three four five six seven eight nine ten",
)

#: Chat template of the tiny tokenizer: ``<|role|>`` headers, ``</s>`` after each message.
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def build_tiny_causal_lm(
    directory: str | Path,
    *,
    hidden_size: int = 32,
    num_layers: int = 2,
    vocab_size: int = 400,
    initializer_range: float = 0.5,
    seed: int = 0,
    corpus: Sequence[str] = CORPUS,
) -> Path:
    """Train a tiny tokenizer, build a random Llama model, save both, and return the directory.

    The weights come from ``torch.manual_seed(seed)`` inside ``torch.random.fork_rng`` (the global
    torch RNG is left as it was), so the same arguments give the same model. A large
    ``initializer_range`` makes the random logits differ visibly between inputs.

    Args:
        directory: Where to save (created if missing); loadable with ``from_pretrained``.
        hidden_size: Model width (heads = 4, key/value heads = 2).
        num_layers: Transformer layers.
        vocab_size: Target BPE vocabulary size (byte alphabet + merges + specials).
        initializer_range: Std of the random weight initialisation.
        seed: Seed of the weight initialisation.
        corpus: Sentences the tokenizer is trained on (text it should encode in few tokens).

    Returns:
        The directory, as a Path.
    """
    from transformers import LlamaForCausalLM

    out, tokenizer = _tokenizer_in(directory, hidden_size, vocab_size, corpus)
    config = _llama_config(tokenizer, hidden_size, num_layers, initializer_range)
    model = _seeded(seed, lambda: LlamaForCausalLM(config))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return out


def build_tiny_reward_model(
    directory: str | Path,
    *,
    num_labels: int = 1,
    hidden_size: int = 32,
    num_layers: int = 2,
    vocab_size: int = 400,
    initializer_range: float = 0.5,
    seed: int = 0,
    corpus: Sequence[str] = CORPUS,
) -> Path:
    """Save a random 2-layer ``LlamaForSequenceClassification`` reward model and its tokenizer.

    Like :func:`build_tiny_causal_lm` (same tokenizer, chat template and seeding), with a
    ``num_labels``-output score head read at the last non-pad token; ``config.pad_token_id`` is
    the tokenizer's ``<pad>``. Loadable with ``AutoModelForSequenceClassification``.
    """
    from transformers import LlamaForSequenceClassification

    out, tokenizer = _tokenizer_in(directory, hidden_size, vocab_size, corpus)
    config = _llama_config(tokenizer, hidden_size, num_layers, initializer_range)
    config.num_labels = num_labels
    model = _seeded(seed, lambda: LlamaForSequenceClassification(config))
    model.save_pretrained(out)
    return out


def build_tiny_general_preference_model(
    directory: str | Path,
    *,
    value_head_dim: int = 4,
    prompt_head: bool = False,
    hidden_size: int = 32,
    num_layers: int = 2,
    vocab_size: int = 400,
    initializer_range: float = 0.5,
    seed: int = 0,
    corpus: Sequence[str] = CORPUS,
) -> Path:
    """Save a random preference-embedding model in the format ``GeneralPreferenceOracle`` reads.

    One ``model.safetensors`` holds the Llama backbone under the prefix ``model.``, the
    embedding head ``value_head.weight`` (``value_head_dim`` × hidden) and, with
    ``prompt_head=True``, ``prompt_head.weight`` (``value_head_dim / 2`` × hidden); beside it
    ``config.json`` (a ``LlamaConfig``) and the tokenizer (see
    :mod:`ompo_envs.oracles.general_preference`).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import LlamaModel

    out, tokenizer = _tokenizer_in(directory, hidden_size, vocab_size, corpus)
    config = _llama_config(tokenizer, hidden_size, num_layers, initializer_range)

    def build() -> dict[str, torch.Tensor]:
        tensors = {f"model.{k}": v for k, v in LlamaModel(config).state_dict().items()}
        tensors["value_head.weight"] = torch.randn(value_head_dim, hidden_size)
        if prompt_head:
            tensors["prompt_head.weight"] = torch.randn(value_head_dim // 2, hidden_size)
        return tensors

    tensors = _seeded(seed, build)
    save_file({k: v.contiguous() for k, v in tensors.items()}, out / "model.safetensors")
    config.save_pretrained(out)
    return out


def _seeded(seed: int, build: Callable[[], T]) -> T:
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _tokenizer_in(
    directory: str | Path, hidden_size: int, vocab_size: int, corpus: Sequence[str]
) -> tuple[Path, Any]:
    """Check the width, create ``directory``, train and save the tokenizer there."""
    try:
        import torch  # noqa: F401
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast
    except ImportError as error:
        raise ImportError(
            f"the tiny models need torch and transformers; {_INSTALL_HINT}"
        ) from error
    if hidden_size % 4:
        raise ValueError(f"hidden_size must be a multiple of 4 (4 heads), got {hidden_size}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    specials = ["<pad>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(list(corpus), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        model_max_length=1024,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)
    return out, tokenizer


def _llama_config(
    tokenizer: Any, hidden_size: int, num_layers: int, initializer_range: float
) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
