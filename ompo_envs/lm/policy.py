"""A Hugging Face causal LM as a policy of the text envs: sample answers, score log π(a | s).

:class:`LMPolicy` plays any text env through the env API: the prompt is the player's own
conversation ``infos[agent]["messages"]`` through the chat template
(:class:`~ompo_envs.lm.prompting.ChatFormat`), answers come from a generation backend
(:mod:`ompo_envs.lm.backends`), and :meth:`LMPolicy.log_probs` gives the batched, masked sequence
log-probabilities the training losses need (:mod:`ompo_envs.lm.logprobs`)::

    policy = LMPolicy.from_pretrained("org/model", sampling=SamplingParams(max_new_tokens=64))
    env = ompo_envs.make("TextRockPaperScissors-v0")
    observations, infos = env.reset(seed=0)
    rng = np.random.default_rng(0)
    answers = policy.sample_batch(
        [observations[a] for a in env.agents], [infos[a] for a in env.agents], rng
    )
    policy.log_probs([infos["player_0"]["messages"]], [answers[0]])   # tensor of shape (1,)
    policy.save("run/iteration_1")                                     # safetensors + tokenizer

Randomness: every sample draws its seed from the caller's ``np.random.Generator``, so a seeded
generator reproduces the answers. The model is used in eval mode (dropout off, as TRL's
``disable_dropout``) for sampling, scoring and training alike.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ompo_envs.lm.backends import GenerationBackend, SamplingParams, TransformersBackend
from ompo_envs.lm.logprobs import model_device, sequence_logprobs
from ompo_envs.lm.lora import is_adapter_folder
from ompo_envs.lm.prompting import ChatFormat, MessagesKey, context_length, messages_key

__all__ = ["POLICY_FILE", "LMPolicy", "check_device_available", "conversations_of"]

#: The file next to the weights that holds the policy's own settings.
POLICY_FILE = "ompo_lm_policy.json"
_SEED_BOUND = 2**63 - 1


def conversations_of(infos: Sequence[Mapping[str, Any]]) -> list[Any]:
    """Return ``info["messages"]`` of each player info, with a clear error for non-text envs.

    Raises:
        TypeError: An info has no ``"messages"`` (the env is not a text env).
    """
    out = []
    for i, info in enumerate(infos):
        if not isinstance(info, Mapping) or "messages" not in info:
            keys = sorted(info) if isinstance(info, Mapping) else type(info).__name__
            raise TypeError(
                "a language-model policy plays text envs: it reads the player's conversation "
                f"from infos[agent]['messages'], which info {i} does not have (it has {keys}); "
                "use a text env (e.g. TextRockPaperScissors-v0) or a tabular policy"
            )
        out.append(info["messages"])
    return out


class LMPolicy:
    """Any causal LM + tokenizer as a policy: ``sample``, ``sample_batch``, ``log_probs``.

    Args:
        model: A ``transformers`` causal LM.
        tokenizer: Its tokenizer (required: prompts go through its chat template).
        sampling: How :meth:`sample` / :meth:`sample_batch` draw answers (``num_samples`` is
            ignored there: one answer per observation).
        chat_template: Overrides the tokenizer's chat template (see
            :class:`~ompo_envs.lm.prompting.ChatFormat`).
        backend: Generation backend; default a :class:`TransformersBackend` on ``model``.
        generation_batch_size: Rows per ``generate`` call of the default backend.
        scoring_batch_size: Rows per forward pass in :meth:`log_probs`.

    Raises:
        TypeError: ``tokenizer`` is missing, or ``model`` is not a causal LM.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        sampling: SamplingParams | None = None,
        chat_template: str | None = None,
        backend: GenerationBackend | None = None,
        generation_batch_size: int = 64,
        scoring_batch_size: int = 16,
    ) -> None:
        if not callable(getattr(model, "generate", None)) or not callable(
            getattr(model, "parameters", None)
        ):
            raise TypeError(
                "model must be a transformers causal LM (with generate()), got "
                f"{type(model).__name__}"
            )
        sampling = SamplingParams() if sampling is None else sampling
        if not isinstance(sampling, SamplingParams):
            raise TypeError(f"sampling must be SamplingParams, got {type(sampling).__name__}")
        if backend is not None and not isinstance(backend, GenerationBackend):
            raise TypeError(f"backend must be a GenerationBackend, got {type(backend).__name__}")
        if isinstance(scoring_batch_size, bool) or not isinstance(scoring_batch_size, int):
            raise ValueError(
                f"scoring_batch_size must be an integer >= 1, got {scoring_batch_size!r}"
            )
        if scoring_batch_size < 1:
            raise ValueError(
                f"scoring_batch_size must be an integer >= 1, got {scoring_batch_size!r}"
            )
        generation_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template_override = chat_template
        self.format = ChatFormat(
            tokenizer,
            chat_template=chat_template,
            generation_eos=generation_eos,
            context_length=context_length(model, tokenizer),
        )
        self.sampling = sampling
        self.generation_batch_size = generation_batch_size
        self.scoring_batch_size = scoring_batch_size
        self.backend: GenerationBackend = (
            backend
            if backend is not None
            else TransformersBackend(model, self.format, batch_size=generation_batch_size)
        )
        self.model.eval()

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        model: str | Path,
        *,
        gguf_file: str | None = None,
        device: str = "cpu",
        dtype: Any = "float32",
        local_files_only: bool | None = None,
        **settings: Any,
    ) -> LMPolicy:
        """Load a policy from a local directory, a GGUF file or a hub name (model + tokenizer).

        A directory written by :meth:`save` also restores the policy's sampling settings and
        chat template (keyword ``settings`` override them). A LoRA adapter folder (peft's
        ``adapter_config.json``, e.g. an ``ompo-train`` iteration saved with ``lora_save =
        "adapter"``) is loaded onto its base model (itself possibly an adapter folder) and
        merged (:func:`~ompo_envs.lm.lora.load_merged`). A GGUF checkpoint (llama.cpp's
        one-file format) is loaded as a plain, savable model with its own tokenizer and chat
        template (:func:`~ompo_envs.lm.convert_gguf.load_gguf`).

        Args:
            model: Local directory, the path of a ``.gguf`` file, or a hub name (offline: must
                be in the local cache).
            gguf_file: The name of a GGUF file inside the directory ``model``.
            device: Torch device, e.g. ``"cuda"``; it must exist on this machine.
            dtype: ``"float32"``, ``"bfloat16"``, ``"float16"``, ``"auto"`` or a torch.dtype.
            local_files_only: Never reach the hub (default: the HF offline env vars).
            **settings: Keyword arguments of :class:`LMPolicy`.

        Raises:
            ValueError: No model or no tokenizer could be loaded from ``model``, a GGUF file is
                missing, not a GGUF or not a causal LM, or ``device`` is not on this machine.
        """
        from ompo_envs.lm.convert_gguf import gguf_source, load_gguf
        from ompo_envs.oracles.pair_lm import load_causal_lm

        check_device_available(device)
        gguf = gguf_source(model, gguf_file)
        if gguf is not None:
            lm, tokenizer = load_gguf(gguf, device=device, dtype=dtype)
            return cls(lm, tokenizer, **settings)
        if is_adapter_folder(model):
            lm, tokenizer = _load_adapter_chain(model, device, dtype, local_files_only)
        else:
            lm, tokenizer = load_causal_lm(
                model, device=device, dtype=dtype, local_files_only=local_files_only
            )
        saved = Path(model).expanduser() / POLICY_FILE
        if saved.is_file():
            stored = json.loads(saved.read_text(encoding="utf-8"))
            sampling = stored.get("sampling", {})
            sampling["stop"] = tuple(sampling.get("stop", ()))
            settings.setdefault("sampling", SamplingParams(**sampling))
            if stored.get("chat_template"):
                settings.setdefault("chat_template", stored["chat_template"])
        return cls(lm, tokenizer, **settings)

    load = from_pretrained

    def save(self, directory: str | Path) -> Path:
        """Write the weights (safetensors), the tokenizer and the policy settings; return the dir.

        The directory loads back with :meth:`from_pretrained` (and with any tool that reads
        ``save_pretrained`` output, e.g. :class:`~ompo_envs.lm.backends.VLLMBackend`).
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(out, safe_serialization=True)
        self.tokenizer.save_pretrained(out)
        settings = {"sampling": asdict(self.sampling), "chat_template": self.chat_template_override}
        settings["sampling"]["stop"] = list(self.sampling.stop)
        (out / POLICY_FILE).write_text(json.dumps(settings, indent=2), encoding="utf-8")
        return out

    def copy(self) -> LMPolicy:
        """Return a frozen copy of this policy (its own weights; e.g. π^{t−1} for later use).

        The copy uses the default transformers backend on its own weights.
        """
        model = copy.deepcopy(self.model)
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        return LMPolicy(
            model,
            self.tokenizer,
            sampling=self.sampling,
            chat_template=self.chat_template_override,
            generation_batch_size=self.generation_batch_size,
            scoring_batch_size=self.scoring_batch_size,
        )

    # ------------------------------------------------------------------ the policy protocol
    @property
    def device(self) -> Any:
        """The torch device of the model."""
        return model_device(self.model)

    def key(self, observation: Any, info: Mapping[str, Any]) -> MessagesKey:
        """Return the prompt this observation uses: the conversation as a hashable tuple."""
        return messages_key(conversations_of([info])[0])

    def sample(self, observation: Any, info: Mapping[str, Any], rng: np.random.Generator) -> str:
        """Return one answer to ``info["messages"]``, seeded from ``rng``."""
        return self.sample_batch([observation], [info], rng)[0]

    def sample_batch(
        self,
        observations: Sequence[Any],
        infos: Sequence[Mapping[str, Any]],
        rng: np.random.Generator,
    ) -> list[str]:
        """Return one answer per player observation, all in one backend call."""
        if len(observations) != len(infos):
            raise ValueError(f"got {len(observations)} observations but {len(infos)} infos")
        conversations = conversations_of(infos)
        if not conversations:
            return []
        completions = self.generate(conversations, 1, rng)
        return [c[0].text for c in completions]

    def generate(
        self, conversations: Sequence[Any], num_samples: int, rng: np.random.Generator
    ) -> list[list[Any]]:
        """Return ``num_samples`` :class:`~ompo_envs.lm.backends.Completion` per conversation."""
        _check_rng(rng)
        params = replace(self.sampling, num_samples=num_samples)
        seed = int(rng.integers(_SEED_BOUND))
        return self.backend.generate(conversations, params, seed)

    # ------------------------------------------------------------------ scoring
    def log_probs(
        self, conversations: Sequence[Any], answers: Sequence[str], *, model: Any = None
    ) -> Any:
        """Return log π(answer | conversation) per pair: a float32 tensor of shape (n,).

        Differentiable under grad mode (training); use ``torch.no_grad()`` to score only.
        ``model`` runs the forward pass instead of :attr:`model`: the same module wrapped for
        distributed training (DDP, FSDP, DeepSpeed need the forward to go through the wrapper).

        Raises:
            ValueError: A prompt plus its answer exceeds the model's context.
        """
        if len(conversations) != len(answers):
            raise ValueError(f"got {len(conversations)} conversations but {len(answers)} answers")
        prompts = [self.format.prompt_ids(c) for c in conversations]
        answer_ids = [self.format.answer_ids(a) for a in answers]
        for i, (p, a) in enumerate(zip(prompts, answer_ids, strict=True)):
            self.format.check_length(len(p), len(a), f"pair {i}")
        pad = self.tokenizer.pad_token_id
        pad = pad if pad is not None else (self.format.end_of_answer_id or 0)
        return sequence_logprobs(
            self.model if model is None else model,
            prompts,
            answer_ids,
            pad_id=pad,
            batch_size=self.scoring_batch_size,
        )

    def score(self, conversations: Sequence[Any], answers: Sequence[str]) -> np.ndarray:
        """Return :meth:`log_probs` without gradients, as a float64 numpy array."""
        import torch

        with torch.no_grad():
            values = self.log_probs(conversations, answers)
        return values.detach().cpu().double().numpy()


def _load_adapter_chain(
    folder: str | Path, device: str, dtype: Any, local_files_only: bool | None
) -> tuple[Any, Any]:
    """The merged model of the adapter ``folder`` and its tokenizer (its own, else its base's)."""
    from ompo_envs.lm.lora import load_merged
    from ompo_envs.oracles.pair_lm import load_causal_lm

    tokenizers: list[Any] = []

    def load_base(base: str) -> Any:
        lm, tokenizer = load_causal_lm(
            base, device=device, dtype=dtype, local_files_only=local_files_only
        )
        tokenizers.append(tokenizer)
        return lm

    model = load_merged(folder, load_base)
    model.eval()
    if (Path(folder).expanduser() / "tokenizer_config.json").is_file():
        from transformers import AutoTokenizer

        return model, AutoTokenizer.from_pretrained(str(Path(folder).expanduser()))
    return model, tokenizers[0]  # the root base's


def check_device_available(device: Any) -> None:
    """Raise ``ValueError`` unless ``device`` is a torch device this machine has.

    ``"cpu"`` always is; ``"cuda"`` / ``"cuda:N"`` need a CUDA GPU (the N-th one); other
    accelerators are left to torch. Checked before a model loads, so a config asking for a GPU
    on a CPU machine fails at once with a message instead of torch's assertion.
    """
    try:
        import torch
    except ImportError:  # the model loader reports the missing extra with its install hint
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as error:
        raise ValueError(
            f"device {device!r} is not a torch device name ({error}); use 'cpu' or 'cuda'"
        ) from error
    if parsed.type != "cuda":
        return
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ValueError(
            f"device {device!r} asks for a CUDA GPU, but this machine has none "
            f"(torch {torch.__version__}: torch.cuda.is_available() is False); use device 'cpu'"
        )
    if parsed.index is not None and parsed.index >= count:
        raise ValueError(
            f"device {device!r} asks for GPU {parsed.index}, but this machine has {count} "
            f"(cuda:0 to cuda:{count - 1})"
        )


def _check_rng(rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}"
        )
