"""Build a tiny random causal LM + tokenizer on disk, for offline tests of the LM-based oracles.

Nothing is downloaded: a byte-level BPE tokenizer is trained on a handful of sentences and a
2-layer :class:`transformers.LlamaForCausalLM` with random weights is saved next to it. The model
is useless as a judge; it only lets tests run the real loading, prompting and batching code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

_INSTALL_HINT = 'install it with: pip install "ompo-envs[torch]"'

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
    try:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
    except ImportError as error:
        raise ImportError(
            f"build_tiny_causal_lm needs torch and transformers; {_INSTALL_HINT}"
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

    config = LlamaConfig(
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
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return out
