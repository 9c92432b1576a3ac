r"""PairRM (llm-blender) as a native preference oracle: DeBERTa-v3 cross-encoder + pairwise head.

PairRM (Jiang, Ren & Lin, 2023, "LLM-Blender", arXiv:2306.02561) reads a prompt and *two*
candidate answers in one sequence and scores them side by side. This module re-implements its
inference from the published checkpoint format of ``llm-blender/PairRM`` with transformers'
``DebertaV2Model``; it does not need the ``llm-blender`` package (see
:mod:`ompo_envs.oracles.blender` for an adapter over that package, used as the reference in tests).

Input layout (one row per ordered pair; PairRM's segment rule)::

    [CLS] <|source|> x … [SEP] [CLS] <|candidate1|> y₁ … [SEP] [CLS] <|candidate2|> y₂ … [SEP]

Each segment is tokenised on its own (with its ``[CLS]``/``[SEP]``); the source is truncated to
``S`` tokens (PairRM: 1224) and each candidate to ``C + ⌊(S − |source|)/2⌋`` tokens (PairRM:
``C`` = 412), i.e. the room a short source leaves is shared by the candidates. Literal ``[SEP]``
in any text is replaced by a space, as PairRM does.

Scoring: with ``h`` the last DeBERTa layer, ``s``, ``c₁``, ``c₂`` its vectors at the three marker
tokens and the head ``g(u) = W₂ tanh(W₁ u + b₁) + b₂`` (``W₁ ∈ ℝ^{H×2H}``, ``W₂ ∈ ℝ^{T×H}``,
``T`` = ``n_tasks`` = 1), the logit that the first-presented answer wins is::

    ℓ(x, y₁, y₂) = mean_t [ g([s; c₁]) − g([s; c₂]) ]_t,

and the oracle returns ``P(a ≻ b | x) = σ(ℓ(x, a, b) − ℓ(x, b, a))`` — both orders, one call —
which is what llm-blender's ``compare(..., mode="[A,B]+[B,A]")`` returns as a logit.

Conversations: a context with a single user turn is scored with that turn as the source. A
multi-turn context (``u₁, r₁, …, u_K``) answered by ``y`` is formatted as llm-blender's
``compare_conversations`` does::

    source    = "Finish the following coversation in each i-th turn by filling in <Response i> "
                "with your response." + "\n".join(f"USER: {u_k}\nAssistant: <Response {k}>")
    candidate = "\n".join(f"<Response {k}>: {r_k}")      with r_K = y

(the instruction's spelling and the missing separator before the first ``USER:`` are PairRM's).
A system message is merged into the user turn after it as ``f"{system}\n{user}"``.

Two whole conversations (:meth:`PairRM.compare_conversations`, the text games' reward
P([s_h, a_h] ≻ [s'_h, a'_h])): two conversations ``u₁, r₁, …, u_K, r_K`` and
``u₁, r'₁, …, u_K, r'_K`` with the same user turns are scored with the same source as above and
each conversation's *own* replies as its candidate, ``"\n".join(f"<Response {k}>: {r_k}")`` and
``"\n".join(f"<Response {k}>: {r'_k}")`` — llm-blender's ``compare_conversations``. A one-turn
pair (``K`` = 1) is scored like a one-turn context, ``(u₁, r₁)`` vs ``(u₁, r'₁)``, so that
``compare_conversations`` equals :meth:`PairRM.compare` whenever the two conversations share every
reply but the last.

Checkpoint format (``llm-blender/PairRM``): ``config.json`` (= ``ranker_config.json``) is an
llm-blender ``RankerConfig`` — ``ranker_type: "pairranker"``, ``model_type: "deberta"``,
``model_name`` (the backbone, ``microsoft/deberta-v3-large``), ``source_maxlength``,
``candidate_maxlength``, ``n_tasks``; ``model.safetensors`` (or ``pytorch_model.bin``) holds
``pretrained_model.<DebertaV2Model key>`` and ``head_layer.{1,4}.{weight,bias}``; the tokenizer
files (``spm.model``, ``tokenizer.json``, ``added_tokens.json``, …) are DeBERTa-v3's plus the
markers ``<|source|>``, ``<|candidate1|>``, ``<|candidate2|>``, ``<|candidate|>``. Only the
backbone's ``config.json`` (its architecture) is read from the backbone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.oracles.base import (
    Conversation,
    OracleError,
    PreferenceOracle,
    check_device,
    validate_conversation,
    validate_pairs,
)

#: Hub name of the published checkpoint.
DEFAULT_CHECKPOINT = "llm-blender/PairRM"
SOURCE_MARKER = "<|source|>"
CANDIDATE1_MARKER = "<|candidate1|>"
CANDIDATE2_MARKER = "<|candidate2|>"
CANDIDATE_MARKER = "<|candidate|>"
MARKERS = (SOURCE_MARKER, CANDIDATE1_MARKER, CANDIDATE2_MARKER, CANDIDATE_MARKER)
#: The instruction llm-blender's ``compare_conversations`` prepends (its spelling, kept verbatim).
CONVERSATION_INSTRUCTION = (
    "Finish the following coversation in each i-th turn by filling in <Response i> with your "
    "response."
)
_INSTALL_HINT = 'PairRM needs torch and transformers: pip install "ompo-envs[torch]"'
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_DTYPES = ("float32", "float16", "bfloat16")


# ---------------------------------------------------------------------- conversation format
def conversation_turns(context: Conversation) -> tuple[list[tuple[str, str]], str]:
    r"""Split a context into completed (user, assistant) turns and the final user message.

    System messages are merged into the user message that follows them (``system + "\n" +
    user``). The result is the conversation PairRM sees; ``a`` and ``b`` answer the final user
    message.

    Args:
        context: Messages ``{"role", "content"}`` ending with the user turn being answered.

    Returns:
        ``(history, final_user)`` where ``history`` lists the earlier ``(user, assistant)`` pairs.

    Raises:
        TypeError / ValueError: A malformed context, one that does not end with a user turn, or
            one whose user and assistant turns do not alternate.
    """
    messages = validate_conversation(context)
    turns: list[tuple[str, str]] = []
    pending_system: list[str] = []
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role == "system":
            pending_system.append(content)
            continue
        expected = "user" if len(turns) % 2 == 0 else "assistant"
        if role != expected:
            raise ValueError(
                f"context[{i}] has role {role!r} where {expected!r} was expected: PairRM needs "
                "user and assistant turns to alternate, starting with a user turn (merge "
                "consecutive messages of one role into one message)"
            )
        if role == "user" and pending_system:
            content = "\n".join([*pending_system, content])
            pending_system = []
        turns.append((role, content))
    if pending_system or not turns or turns[-1][0] != "user":
        raise ValueError(
            "a context must end with the user turn being answered; got one ending with "
            f"role {messages[-1]['role']!r}"
        )
    contents = [content for _, content in turns]
    history = list(zip(contents[:-1:2], contents[1:-1:2], strict=True))
    return history, contents[-1]


def pairrm_texts(context: Conversation, answer: str) -> tuple[str, str]:
    """Return PairRM's (source, candidate) texts for ``answer`` to ``context``.

    A single user turn gives ``(user, answer)``; a longer conversation gives llm-blender's
    ``compare_conversations`` texts (see the module docstring).
    """
    history, final_user = conversation_turns(context)
    users = [user for user, _ in history] + [final_user]
    replies = [reply for _, reply in history] + [answer]
    return exchange_texts(users, replies)


def exchange_texts(users: Sequence[str], replies: Sequence[str]) -> tuple[str, str]:
    """Return PairRM's (source, candidate) texts for the exchanges ``(users[k], replies[k])``.

    One exchange gives ``(user, reply)``; more give llm-blender's ``compare_conversations``
    texts (see the module docstring).

    Raises:
        ValueError: ``users`` is empty or its length differs from that of ``replies``.
    """
    if len(users) == 0 or len(users) != len(replies):
        raise ValueError(
            f"need one reply per user turn and at least one turn, got {len(users)} user turns "
            f"and {len(replies)} replies"
        )
    if len(users) == 1:
        return users[0], replies[0]
    source = CONVERSATION_INSTRUCTION + "\n".join(
        f"USER: {user}\nAssistant: <Response {k}>" for k, user in enumerate(users, start=1)
    )
    candidate = "\n".join(f"<Response {k}>: {reply}" for k, reply in enumerate(replies, start=1))
    return source, candidate


def conversation_exchanges(
    conversation: Conversation, *, where: str = "conversation"
) -> tuple[list[str], list[str]]:
    r"""Split a whole conversation into its user turns and its assistant replies.

    System messages are merged into the user message after them (``system + "\n" + user``), as
    in :func:`conversation_turns`.

    Args:
        conversation: Messages ``{"role", "content"}``: user and assistant turns alternating,
            starting with a user turn and ending with the assistant reply being compared.
        where: The conversation's name in error messages.

    Returns:
        ``(users, replies)``, two lists of the same length ≥ 1.

    Raises:
        TypeError / ValueError: A malformed conversation, one whose turns do not alternate, or one
            that does not end with an assistant turn.
    """
    messages = validate_conversation(conversation, where=where)
    users: list[str] = []
    replies: list[str] = []
    pending_system: list[str] = []
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role == "system":
            pending_system.append(content)
            continue
        expected = "user" if len(users) == len(replies) else "assistant"
        if role != expected:
            raise ValueError(
                f"{where}[{i}] has role {role!r} where {expected!r} was expected: a conversation "
                "must alternate user and assistant turns, starting with a user turn (merge "
                "consecutive messages of one role into one message)"
            )
        if role == "user":
            users.append("\n".join([*pending_system, content]))
            pending_system = []
        else:
            replies.append(content)
    if pending_system or not users or len(replies) != len(users):
        raise ValueError(
            f"{where} must end with an assistant turn (the reply being compared); it ends with "
            f"role {messages[-1]['role']!r}"
        )
    return users, replies


def check_conversation_pairs(
    conversations_a: Sequence[Conversation], conversations_b: Sequence[Conversation]
) -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """Validate two lists of whole conversations that are compared pairwise.

    Args:
        conversations_a: Conversations, each as for :func:`conversation_exchanges`.
        conversations_b: As many conversations; ``conversations_b[i]`` must have the same user
            turns as ``conversations_a[i]``, in the same order (only the replies may differ).

    Returns:
        Per pair ``(users, replies_a, replies_b)``, tuples of strings of one length.

    Raises:
        TypeError / ValueError: A list that is not a list, lists of different lengths, a malformed
            conversation, or a pair whose user turns differ (the message names the turn).
    """
    for name, seq in (("conversations_a", conversations_a), ("conversations_b", conversations_b)):
        if isinstance(seq, str) or not isinstance(seq, Sequence):
            raise TypeError(f"{name} must be a list of conversations, got {type(seq).__name__}")
    if len(conversations_a) != len(conversations_b):
        raise ValueError(
            f"conversations_a and conversations_b must have the same length, got "
            f"{len(conversations_a)} and {len(conversations_b)}"
        )
    pairs = []
    for i, (conv_a, conv_b) in enumerate(zip(conversations_a, conversations_b, strict=True)):
        users_a, replies_a = conversation_exchanges(conv_a, where=f"conversations_a[{i}]")
        users_b, replies_b = conversation_exchanges(conv_b, where=f"conversations_b[{i}]")
        if len(users_a) != len(users_b):
            raise ValueError(
                f"conversations_a[{i}] has {len(users_a)} user turns but conversations_b[{i}] has "
                f"{len(users_b)}: the two conversations of a pair must share their user turns"
            )
        for k, (user_a, user_b) in enumerate(zip(users_a, users_b, strict=True), start=1):
            if user_a != user_b:
                raise ValueError(
                    f"user turn {k} differs between conversations_a[{i}] and conversations_b[{i}]"
                    f" ({user_a!r:.80} vs {user_b!r:.80}): the two conversations of a pair must "
                    "share their user turns (system messages count as part of the user turn "
                    "after them); only the assistant replies may differ"
                )
        pairs.append((tuple(users_a), tuple(replies_a), tuple(replies_b)))
    return pairs


# ---------------------------------------------------------------------- checkpoint resolution
def _hub_offline() -> bool:
    flags = (os.environ.get("HF_HUB_OFFLINE", ""), os.environ.get("TRANSFORMERS_OFFLINE", ""))
    if any(flag.strip().lower() in ("1", "true", "yes", "on") for flag in flags):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return True
    return bool(constants.HF_HUB_OFFLINE)


def resolve_checkpoint(
    name: str | os.PathLike[str],
    *,
    what: str,
    allow_patterns: Sequence[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Return a local folder for ``name``: the folder itself, or a hub snapshot.

    A name that is an existing folder is used as is. Otherwise ``name`` must look like a hub id
    (``"org/model"``); it is looked up in the local Hugging Face cache and, unless
    ``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set, downloaded.

    Raises:
        ValueError: The folder does not exist, or the hub copy is neither cached nor reachable;
            the message says how to point at a local folder or use a CPU oracle instead.
    """
    path = Path(os.fspath(name)).expanduser()
    if path.is_dir():
        return path
    text = os.fspath(name)
    looks_like_hub_id = text.count("/") == 1 and not text.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise ValueError(f"{what} {text!r} is not a folder; pass the folder that holds it")
    offline = _hub_offline()
    try:
        from huggingface_hub import snapshot_download

        folder = snapshot_download(
            repo_id=text,
            allow_patterns=list(allow_patterns) if allow_patterns is not None else None,
            cache_dir=None if cache_dir is None else os.fspath(cache_dir),
            local_files_only=offline,
        )
    except Exception as error:  # offline, not cached, no network, no such repo
        reason = (
            "the hub is disabled (HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE) and no cached copy exists"
            if offline
            else f"it could not be fetched ({type(error).__name__}: {error})"
        )
        raise ValueError(
            f"cannot load {what} {text!r}: {reason}. Download it on a machine with network "
            f"access (e.g. `huggingface-cli download {text} --local-dir "
            f"/path/to/{text.split('/')[-1]}`) "
            "and load it from the folder: PairRM.from_pretrained('/path/to/PairRM', "
            "backbone='/path/to/deberta-v3-large'). Without the model, use a CPU oracle "
            "instead, e.g. ompo_envs.oracles.EmbeddingOracle."
        ) from error
    return Path(folder)


def read_ranker_config(folder: Path) -> dict[str, Any]:
    """Read and check llm-blender's ranker config (``config.json`` or ``ranker_config.json``)."""
    for name in ("config.json", "ranker_config.json"):
        if (folder / name).is_file():
            with open(folder / name, encoding="utf-8") as handle:
                config = json.load(handle)
            break
    else:
        raise ValueError(f"{folder} has no config.json: it is not an llm-blender/PairRM checkpoint")
    if config.get("ranker_type") != "pairranker":
        hint = (
            " (this looks like the transformers-native 'llm-blender/PairRM-hf' layout; use the "
            "'llm-blender/PairRM' checkpoint)"
            if "DebertaV2PairRM" in config.get("architectures", [])
            else ""
        )
        raise ValueError(
            f"{folder}/{name} has ranker_type {config.get('ranker_type')!r}, expected "
            f"'pairranker'{hint}"
        )
    if not str(config.get("model_type", "")).startswith("deberta"):
        raise ValueError(
            f"{folder}/{name} has model_type {config.get('model_type')!r}; only DeBERTa PairRM "
            "checkpoints are supported"
        )
    for key in ("model_name", "source_maxlength", "candidate_maxlength"):
        if config.get(key) is None:
            raise ValueError(f"{folder}/{name} lacks {key!r}")
    return config


# ---------------------------------------------------------------------- the oracle
class PairRM(PreferenceOracle):
    """PairRM pairwise reward model, loaded natively from llm-blender/PairRM's checkpoint.

    ``P(a ≻ b | x) = σ(ℓ(x, a, b) − ℓ(x, b, a))`` with PairRM's pairwise logit ℓ (module
    docstring); the two orders are scored in one batch.

    Args:
        checkpoint: Folder of a PairRM checkpoint, or its hub name (default
            ``"llm-blender/PairRM"``; needs network or the local Hugging Face cache).
        backbone: Folder or hub name of the DeBERTa backbone whose ``config.json`` gives the
            architecture; default: the checkpoint's ``model_name`` (``microsoft/deberta-v3-large``).
        device: Torch device; default ``"cuda"`` if available, else ``"cpu"``.
        dtype: ``"float32"``, ``"float16"`` or ``"bfloat16"``; default float16 on CUDA when the
            checkpoint's config says ``fp16`` (as llm-blender does), else float32.
        batch_size: Pairs per forward pass (each pair is two rows, one per order).
        cache_size: LRU cache size of the base class; 0 disables it.
        source_max_length: Source truncation ``S`` in tokens; default the checkpoint's
            ``source_maxlength`` (1224).
        candidate_max_length: Candidate truncation ``C``; default ``candidate_maxlength`` (412).
        cache_dir: Hugging Face cache folder for hub names.

    Example:
        >>> from ompo_envs.oracles import PairRM  # doctest: +SKIP
        >>> oracle = PairRM("/models/PairRM", backbone="/models/deberta-v3-large")  # doctest: +SKIP
        >>> oracle.compare([[{"role": "user", "content": "2+2?"}]], ["4"], ["5"])  # doctest: +SKIP
    """

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] = DEFAULT_CHECKPOINT,
        *,
        backbone: str | os.PathLike[str] | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        cache_size: int = 0,
        source_max_length: int | None = None,
        candidate_max_length: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(batch_size=batch_size, cache_size=cache_size)
        for name, value in (
            ("source_max_length", source_max_length),
            ("candidate_max_length", candidate_max_length),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 3
            ):
                raise ValueError(f"{name} must be an integer >= 3 (or None), got {value!r}")
        if dtype is not None and dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {_DTYPES} or None, got {dtype!r}")
        if device is not None:
            check_device(device)
        try:
            import torch
            import transformers  # noqa: F401
        except ImportError as error:  # pragma: no cover - depends on the environment
            raise ImportError(_INSTALL_HINT) from error

        folder = resolve_checkpoint(checkpoint, what="PairRM checkpoint", cache_dir=cache_dir)
        config = read_ranker_config(folder)
        backbone_name = config["model_name"] if backbone is None else backbone
        backbone_folder = resolve_checkpoint(
            backbone_name,
            what="PairRM backbone",
            allow_patterns=["config.json"],
            cache_dir=cache_dir,
        )
        self.checkpoint_dir = folder
        self.backbone_dir = backbone_folder
        self.source_max_length = source_max_length or int(config["source_maxlength"])
        self.candidate_max_length = candidate_max_length or int(config["candidate_maxlength"])
        self.device = torch.device(
            device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
        )
        if dtype is None:
            dtype = "float16" if self.device.type == "cuda" and config.get("fp16") else "float32"
        self.dtype = getattr(torch, dtype)
        self._tokenizer = self._load_tokenizer(folder, backbone_folder)
        self._marker_ids = {
            marker: int(self._tokenizer.convert_tokens_to_ids(marker)) for marker in MARKERS
        }
        self._encoder, self._head_hidden, self._head_out = self._load_model(
            folder, backbone_folder, len(self._tokenizer)
        )

    @classmethod
    def from_pretrained(cls, checkpoint: str | os.PathLike[str], **kwargs: Any) -> PairRM:
        """Load PairRM from a checkpoint folder or hub name; same keywords as the constructor."""
        return cls(checkpoint, **kwargs)

    # ------------------------------------------------------------------ loading
    @staticmethod
    def _load_tokenizer(folder: Path, backbone_folder: Path) -> Any:
        from transformers import AutoTokenizer

        has_own = any((folder / name).is_file() for name in ("tokenizer.json", "spm.model"))
        tokenizer = AutoTokenizer.from_pretrained(str(folder if has_own else backbone_folder))
        missing = [m for m in MARKERS if m not in tokenizer.get_vocab()]
        if missing:  # a backbone tokenizer: add the markers as llm-blender does
            tokenizer.add_tokens(list(MARKERS))
        if tokenizer.sep_token is None or tokenizer.cls_token is None:
            raise ValueError(f"the tokenizer in {folder} has no [SEP]/[CLS] token")
        return tokenizer

    def _load_model(self, folder: Path, backbone_folder: Path, n_tokens: int) -> tuple[Any, ...]:
        import torch
        from transformers import DebertaV2Config, DebertaV2Model

        state = _read_state_dict(folder)
        prefix = "pretrained_model."
        encoder_state = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        head = {k: v for k, v in state.items() if k.startswith("head_layer.")}
        other = sorted(set(state) - {prefix + k for k in encoder_state} - set(head))
        if other:
            raise ValueError(f"unexpected keys in {folder}'s weights: {other[:5]}")
        embedding = encoder_state.get("embeddings.word_embeddings.weight")
        if embedding is None:
            raise ValueError(f"{folder}'s weights lack pretrained_model.embeddings.word_embeddings")
        if embedding.shape[0] != n_tokens:
            raise ValueError(
                f"{folder}'s embedding has {embedding.shape[0]} rows but its tokenizer has "
                f"{n_tokens} tokens: tokenizer and weights do not belong together"
            )
        encoder_state.pop("embeddings.position_ids", None)  # a buffer older versions saved

        config = DebertaV2Config.from_pretrained(str(backbone_folder))
        if config.model_type != "deberta-v2":
            raise ValueError(
                f"backbone {backbone_folder} has model_type {config.model_type!r}, expected "
                "'deberta-v2' (DeBERTa-v3)"
            )
        config.vocab_size = n_tokens
        encoder = DebertaV2Model(config)
        result = encoder.load_state_dict(encoder_state, strict=False)
        if result.missing_keys or result.unexpected_keys:
            raise ValueError(
                f"{folder}'s weights do not fit the backbone in {backbone_folder}: missing "
                f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}"
            )
        try:
            w1, b1 = head["head_layer.1.weight"], head["head_layer.1.bias"]
            w2, b2 = head["head_layer.4.weight"], head["head_layer.4.bias"]
        except KeyError as error:
            raise ValueError(f"{folder}'s weights lack the PairRM head key {error}") from error
        hidden = config.hidden_size
        if tuple(w1.shape) != (hidden, 2 * hidden) or w2.shape[1] != hidden:
            raise ValueError(
                f"PairRM head shapes {tuple(w1.shape)}, {tuple(w2.shape)} do not match hidden "
                f"size {hidden}"
            )
        head_hidden = torch.nn.Linear(2 * hidden, hidden)
        head_out = torch.nn.Linear(hidden, w2.shape[0])
        head_hidden.load_state_dict({"weight": w1, "bias": b1})
        head_out.load_state_dict({"weight": w2, "bias": b2})
        modules = (encoder, head_hidden, head_out)
        for module in modules:
            module.to(device=self.device, dtype=self.dtype).eval()
        return modules

    # ------------------------------------------------------------------ scoring
    def _ordered_logits(
        self, contexts: list[list[dict[str, str]]], first: list[str], second: list[str]
    ) -> np.ndarray:
        """Return ℓ(x, first, second) per item: PairRM's logit that ``first`` wins."""
        sources, firsts, seconds = [], [], []
        for context, a, b in zip(contexts, first, second, strict=True):
            source, text_a = pairrm_texts(context, a)
            _, text_b = pairrm_texts(context, b)
            sources.append(source)
            firsts.append(text_a)
            seconds.append(text_b)
        return self._pairwise_logits(sources, firsts, seconds)

    def compare_conversations(
        self,
        conversations_a: Sequence[Conversation],
        conversations_b: Sequence[Conversation],
    ) -> np.ndarray:
        """Return P(conversations_a[i] ≻ conversations_b[i]) for every i, shape (n,), float64.

        The two conversations of a pair share their user turns and differ in their assistant
        replies (each player's own history); PairRM reads the user turns as the source and each
        conversation's replies as its candidate, as llm-blender's ``compare_conversations`` does
        (module docstring), and returns ``σ(ℓ(a, b) − ℓ(b, a))`` like :meth:`compare`. Identical
        conversations give exactly ½. Batching, the cache and the out-of-memory back-off are
        those of :meth:`compare`.

        Args:
            conversations_a: Conversations ``[u₁, r₁, …, u_K, r_K]`` as ``{"role", "content"}``
                messages, alternating user/assistant and ending with an assistant turn.
            conversations_b: As many conversations, each with the same user turns as its partner.

        Raises:
            TypeError / ValueError: See :func:`check_conversation_pairs`.
            OracleError: The model produced a non-finite value.
        """
        pairs = check_conversation_pairs(conversations_a, conversations_b)
        contexts, texts_a, texts_b = [], [], []
        for users, replies_a, replies_b in pairs:
            source, text_a = exchange_texts(users, replies_a)
            _, text_b = exchange_texts(users, replies_b)
            # The formatted source is a one-turn context: ``compare``'s model path reads it as
            # the source unchanged, as llm-blender's compare_conversations passes it to compare.
            contexts.append([{"role": "user", "content": source}])
            texts_a.append(text_a)
            texts_b.append(text_b)
        return self._compare_validated(contexts, texts_a, texts_b)

    def log_odds(
        self,
        contexts: Sequence[Conversation],
        answers_a: Sequence[str],
        answers_b: Sequence[str],
    ) -> np.ndarray:
        """Return ``ℓ(x, a, b) − ℓ(x, b, a) = log P(a ≻ b) / P(b ≻ a)`` per pair, shape (n,).

        This is what llm-blender's ``compare(..., return_logits=True)`` and
        ``compare_conversations(..., return_logits=True)`` return. No cache, no shortcut for
        ``a == b`` (which gives 0 up to rounding).
        """
        contexts, answers_a, answers_b = validate_pairs(contexts, answers_a, answers_b)
        out = np.empty(len(contexts))
        for start in range(0, len(contexts), self.batch_size):
            stop = start + self.batch_size
            c, a, b = contexts[start:stop], answers_a[start:stop], answers_b[start:stop]
            logits = self._ordered_logits(c + c, a + b, b + a)
            out[start:stop] = logits[: len(c)] - logits[len(c) :]
        return out

    def _encode(self, text: str, marker: str, max_length: int) -> list[int]:
        """Tokenise ``marker + text`` with [CLS]/[SEP], truncated to ``max_length`` tokens."""
        ids = self._tokenizer(marker + self._clean(text))["input_ids"]
        if len(ids) > max_length:  # keep the final [SEP], as truncation=True does
            ids = [*ids[: max_length - 1], ids[-1]]
        if ids[1] != self._marker_ids[marker]:
            raise OracleError(f"the tokenizer did not keep {marker} as one token: {ids[:4]}")
        return ids

    def _clean(self, text: str) -> str:
        # PairRM replaces its separator by a space; marker strings inside user text would be
        # read as segment markers, so they are neutralised the same way.
        for token in (self._tokenizer.sep_token, *MARKERS):
            text = text.replace(token, " ")
        return text

    def _pairwise_logits(
        self, sources: list[str], firsts: list[str], seconds: list[str]
    ) -> np.ndarray:

        rows: list[list[int]] = []
        positions: list[tuple[int, int, int]] = []
        cand1_id = self._marker_ids[CANDIDATE1_MARKER]
        cand2_id = self._marker_ids[CANDIDATE2_MARKER]
        for source, a, b in zip(sources, firsts, seconds, strict=True):
            src = self._encode(source, SOURCE_MARKER, self.source_max_length)
            budget = self.candidate_max_length + (self.source_max_length - len(src)) // 2
            ids_a = self._encode(a, CANDIDATE_MARKER, budget)
            ids_b = self._encode(b, CANDIDATE_MARKER, budget)
            ids_a[1], ids_b[1] = cand1_id, cand2_id
            rows.append(src + ids_a + ids_b)
            positions.append((1, len(src) + 1, len(src) + len(ids_a) + 1))
        out = np.empty(len(rows))
        for chunk in _length_groups([len(row) for row in rows]):
            out[chunk] = self._forward([rows[i] for i in chunk], [positions[i] for i in chunk])
        return out

    def _forward(self, rows: list[list[int]], positions: list[tuple[int, int, int]]) -> np.ndarray:
        import torch

        width = max(len(row) for row in rows)
        pad = self._tokenizer.pad_token_id
        input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        index = torch.tensor(positions, dtype=torch.long)
        batch = torch.arange(len(rows))
        with torch.inference_mode():
            hidden = self._encoder(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
            ).last_hidden_state
            index = index.to(self.device)
            batch = batch.to(self.device)
            source = hidden[batch, index[:, 0]]
            scores = []
            for column in (1, 2):
                pair = torch.cat([source, hidden[batch, index[:, column]]], dim=-1)
                scores.append(self._head_out(torch.tanh(self._head_hidden(pair))))
            logits = (scores[0] - scores[1]).float().mean(dim=-1)
        return logits.cpu().numpy().astype(np.float64)


def _length_groups(lengths: list[int], slack: float = 1.25) -> list[list[int]]:
    """Split row indices, sorted by length, into groups padded to at most ``slack`` × their tokens.

    One forward pass per group: mixing short single-turn rows with long multi-turn rows would
    otherwise pad every row to the longest one.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    groups: list[list[int]] = []
    for i in order:
        group = groups[-1] if groups else None
        if group is not None and lengths[i] * (len(group) + 1) <= slack * (
            sum(lengths[j] for j in group) + lengths[i]
        ):
            group.append(i)
        else:
            groups.append([i])
    return groups


def _read_state_dict(folder: Path) -> dict[str, Any]:
    if (folder / "model.safetensors").is_file():
        from safetensors.torch import load_file

        return load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        import torch

        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise ValueError(f"{folder} holds none of {_WEIGHT_FILES}: it is not a PairRM checkpoint")
