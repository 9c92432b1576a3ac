r"""LoRA adapters for the LM policies: a new adapter on top of π^t each iteration, then merged.

A LoRA adapter (Hu et al. 2021) replaces each targeted linear layer's weight W (d_out × d_in) by

    W + ΔW,    ΔW = (α / r) · B A,    A ∈ R^{r × d_in},  B ∈ R^{d_out × r},

and trains only A and B (the base weights are frozen). A starts Kaiming-uniform (drawn from a
``torch.Generator`` seeded by the caller, so an iteration redone after a crash starts from the
same adapter) and B starts at 0, so the adapted model *is* π^t before the first step.

**One adapter per iteration.** Iteration t trains a fresh adapter on top of π^t and merges it,
π^{t+1} = π^t with W ← W + (α/r) B A (:func:`merge_adapter`), so the next iteration's base is
the merged previous policy. The reference log π^t(a|s) of the regression losses is that of the
base model, i.e. the adapted model with its adapter disabled (or, equivalently, at B = 0): the
score stage computes it from π^t before the adapter exists, and it is stored in the records.

π^{t+1} is saved either merged (a plain Hugging Face folder: evaluation, ``ompo-train`` and vLLM
read it unchanged) or as the adapter alone (``adapter_config.json`` + ``adapter_model.safetensors``,
peft's format) whose ``base_model_name_or_path`` names π^t's folder; :func:`load_merged` (and so
:meth:`~ompo_envs.lm.LMPolicy.from_pretrained`) follows the chain of bases and merges in order,
which gives the same weights as the merged save.

Needs the ``lora`` extra (``pip install "ompo-envs[lora]"``: peft).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ADAPTER_CONFIG",
    "ADAPTER_WEIGHTS",
    "AdapterSnapshot",
    "LoraSettings",
    "adapter_base",
    "adapter_snapshot",
    "attach_adapter",
    "is_adapter_folder",
    "linear_module_names",
    "load_merged",
    "merge_adapter",
    "save_adapter",
]

#: peft's file that marks an adapter folder.
ADAPTER_CONFIG = "adapter_config.json"
#: peft's file of the adapter weights.
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_INSTALL_HINT = 'LoRA needs the peft package: pip install "ompo-envs[lora]"'


@dataclass(frozen=True)
class LoraSettings:
    """A LoRA adapter's shape (peft's ``LoraConfig``)."""

    r: int = 8
    """Rank r ≥ 1 of A and B."""
    alpha: float = 16.0
    """α > 0: ΔW = (α / r) B A."""
    dropout: float = 0.0
    """Dropout on the adapter's input, in [0, 1): active in train mode only (``ompo-train``'s
    train stage); the LM solvers keep the model in eval mode, so it is off there."""
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")
    """Names of the linear layers to adapt (the last part of the module name, e.g.
    ``"q_proj"``); :func:`linear_module_names` lists a model's."""

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"r = {self.r!r} is not allowed: expected an integer >= 1")
        if not _finite_number(self.alpha) or self.alpha <= 0:
            raise ValueError(f"alpha = {self.alpha!r} is not allowed: expected a number > 0")
        if not _finite_number(self.dropout) or not 0 <= self.dropout < 1:
            raise ValueError(
                f"dropout = {self.dropout!r} is not allowed: expected 0 <= dropout < 1"
            )
        modules = self.target_modules
        if (
            isinstance(modules, str)
            or not isinstance(modules, Sequence)
            or not modules
            or not all(isinstance(m, str) and m for m in modules)
        ):
            raise ValueError(
                f"target_modules = {modules!r} is not allowed: expected a non-empty list of "
                'module names, e.g. ["q_proj", "v_proj"]'
            )

    @property
    def scaling(self) -> float:
        """α / r, the factor of B A."""
        return self.alpha / self.r

    def check_model(self, model: Any) -> None:
        """Raise ``ValueError`` unless every target module is a linear layer of ``model``."""
        available = linear_module_names(model)
        missing = [m for m in self.target_modules if m not in available]
        if missing:
            raise ValueError(
                f"target_modules = {list(self.target_modules)!r}: {missing} "
                f"{'is not a linear layer' if len(missing) == 1 else 'are not linear layers'} "
                f"of this model; its linear layers are {available}"
            )


def linear_module_names(model: Any) -> list[str]:
    """The names (last part) of ``model``'s linear layers, sorted: what LoRA can target."""
    import torch

    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and name
        }
    )


def attach_adapter(model: Any, settings: LoraSettings, *, seed: int) -> Any:
    """Freeze ``model`` and inject a fresh adapter; return the peft model around it.

    The layers are replaced in place (``model`` itself runs with the adapter). A is drawn
    Kaiming-uniform (peft's initialisation) from ``torch.Generator().manual_seed(seed)``, module
    by module in name order; B = 0.

    Raises:
        ImportError: peft is not installed.
        ValueError: A target module is not a linear layer of ``model``.
    """
    import torch

    peft = _peft()
    settings.check_model(model)
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    adapted = peft.get_peft_model(model, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(adapted.named_parameters()):
            if ".lora_A." in name:
                draw = torch.empty(parameter.shape, dtype=torch.float32)
                torch.nn.init.kaiming_uniform_(draw, a=math.sqrt(5), generator=generator)
                parameter.copy_(draw)
            elif ".lora_B." in name:
                parameter.zero_()
    return adapted


def merge_adapter(adapted: Any) -> Any:
    """Merge the adapter into the base weights, W ← W + (α/r) B A; return the plain base model.

    The base model's parameters are trainable again afterwards (as before the adapter).
    """
    model = adapted.merge_and_unload()
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    return model


@dataclass(frozen=True)
class AdapterSnapshot:
    """A trained adapter taken out of its model (before the merge removes it)."""

    config: Any
    """peft's ``LoraConfig`` of the adapter."""
    state: dict[str, Any]
    """A and B of every adapted layer (CPU tensors, peft's state-dict names)."""


def adapter_snapshot(adapted: Any) -> AdapterSnapshot:
    """Copy the adapter of the peft model ``adapted`` (to save it after merging)."""
    peft = _peft()
    state = peft.get_peft_model_state_dict(adapted)
    return AdapterSnapshot(
        config=copy.deepcopy(adapted.peft_config["default"]),
        state={name: tensor.detach().cpu().clone() for name, tensor in state.items()},
    )


def save_adapter(snapshot: AdapterSnapshot, directory: str | Path, *, base: str) -> Path:
    """Write the adapter in peft's format with ``base`` (π^t's folder) as its base model.

    The folder holds ``adapter_config.json`` and ``adapter_model.safetensors``, as peft's
    ``save_pretrained`` writes them (``PeftModel.from_pretrained`` and vLLM's LoRA support
    read it).
    """
    from safetensors.torch import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(snapshot.config)
    config.base_model_name_or_path = base
    config.save_pretrained(str(out))
    save_file(
        {k: v.contiguous() for k, v in snapshot.state.items()},
        str(out / ADAPTER_WEIGHTS),
        metadata={"format": "pt"},
    )
    return out


def is_adapter_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder holding a peft adapter (``adapter_config.json``)."""
    return (Path(path).expanduser() / ADAPTER_CONFIG).is_file()


def adapter_base(path: str | Path) -> str:
    """The ``base_model_name_or_path`` of the adapter folder ``path``.

    Raises:
        ValueError: The adapter config names no base model.
    """
    config = json.loads((Path(path).expanduser() / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    base = config.get("base_model_name_or_path")
    if not base:
        raise ValueError(
            f"{path}/{ADAPTER_CONFIG} names no base_model_name_or_path: an adapter folder must "
            "name the model it was trained on"
        )
    return str(base)


def load_merged(path: str | Path, load_base: Callable[[str], Any]) -> Any:
    """Load the adapter folder ``path`` onto its base (``load_base(base)``) and merge it.

    ``load_base`` loads a plain model folder; a base that is itself an adapter folder is loaded
    the same way first (the chain π^1 ← adapter 1 ← adapter 2 ...), so the merges happen in the
    order of training.
    """
    peft = _peft()
    base = adapter_base(path)
    model = load_merged(base, load_base) if is_adapter_folder(base) else load_base(base)
    adapted = peft.PeftModel.from_pretrained(model, str(path), is_trainable=False)
    return merge_adapter(adapted)


def _peft() -> Any:
    try:
        import peft
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return peft


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
