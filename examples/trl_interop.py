"""TRL interop, both directions, on CPU with a tiny local Llama (no download).

1. **A game for TRL.** ``GRPOTrainer(environment_factory=text_game_factory(...),
   reward_funcs=[game_reward])`` trains player_0 of ``TextRockPaperScissors-v0`` against a fixed
   opponent that always answers "rock"; the reward of an answer is the env's preference reward.
2. **OMPO's loss in a Trainer.** ``ompo-train`` runs one OMPO iteration of
   ``configs/tiny-cpu-rps.toml``; :func:`solvers.lm.trl.records_dataset` reads the records it
   scored and :class:`solvers.lm.trl.RecordsTrainer` trains on them with ompo-train's loss,
   printed next to the number ompo-train's solver computes for the same records and model.

Run (from the repository root, ``pip install -e ".[train,trl]"``)::

    python examples/trl_interop.py --out /tmp/trl-example

``--model PATH`` trains a local Hugging Face causal LM instead of the tiny one in part 1 (its
chat template must render tool calls: TRL 1.16 checks it whenever ``environment_factory`` is
given).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: The tiny tokenizer's ``<|role|>`` chat template, also rendering assistant tool calls.
TOOL_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}"
    "{% for c in m.get('tool_calls', []) %}"
    "{{ c['function']['name'] }}({{ c['function']['arguments'] | tojson }}){% endfor %}</s>\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def always_rock(observation, info, rng):
    """The fixed opponent: player_1 always answers "rock"."""
    return "rock"


def grpo_in_a_game(model_dir: Path, out: Path) -> None:
    """Part 1: three GRPO steps of TRL in TextRockPaperScissors-v0."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from ompo_envs.wrappers.trl import game_reward, text_game_factory

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    make_environment = text_game_factory("TextRockPaperScissors-v0", always_rock)
    environments = []  # every instance TRL made (one per rollout of a batch, reused)

    def factory():
        environments.append(make_environment())
        return environments[-1]

    args = GRPOConfig(
        output_dir=str(out / "grpo"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        max_steps=3,
        num_generations=4,
        per_device_train_batch_size=4,
        max_completion_length=4,
        learning_rate=0.05,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=[game_reward],
        environment_factory=factory,
        args=args,
    )
    trainer.train()
    for entry in trainer.state.log_history:
        if "rewards/game_reward/mean" in entry:
            mean, std = entry["rewards/game_reward/mean"], entry["rewards/game_reward/std"]
            print(f"GRPO step {entry['step']}: mean env reward {mean:.3f} (std {std:.3f})")
    played = [h for e in environments for h in e.history]
    print("answers played against 'rock':", json.dumps([h["answer"] for h in played[:8]]))


def ompo_loss_in_a_trainer(out: Path) -> None:
    """Part 2: one ompo-train iteration, then RecordsTrainer on its records."""
    import torch
    from transformers import TrainingArguments

    import ompo_envs
    from ompo_envs.lm import LMPolicy
    from solvers.lm.records import records_from_json
    from solvers.lm.trl import RecordsTrainer, records_dataset
    from training.cli import main
    from training.config import load_config
    from training.methods import build_solver

    run = out / "ompo-run"
    if not (run / "iteration_1" / "config.json").exists():
        status = main(
            [
                "configs/tiny-cpu-rps.toml",
                "--out",
                str(run),
                "run.iterations=1",
                "evaluate.exploitability_episodes=0",
                "logging.progress=false",
                *(["--resume"] if (run / "manifest.json").exists() else []),
            ]
        )
        if status:
            raise SystemExit(status)
    dataset = records_dataset(run / "iteration_1")
    print(f"records of iteration 1: {len(dataset)} rows, columns {dataset.column_names}")
    policy = LMPolicy.from_pretrained(run / "iteration_1")
    records = records_from_json([json.loads(r) for r in dataset["record"]])
    config = load_config(run / "config.toml")
    solver = build_solver(config, ompo_envs.make(config.env.id), policy)
    with torch.no_grad():
        terms = solver.loss(records)
        weights = torch.tensor([r.weight for r in records], dtype=terms.dtype)
        reference = float((terms * weights).sum() / weights.sum())
    args = TrainingArguments(
        output_dir=str(out / "records-trainer"),
        per_device_train_batch_size=len(dataset),
        max_steps=3,
        learning_rate=1e-3,
        use_cpu=True,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        seed=0,
    )
    trainer = RecordsTrainer(policy, args, dataset, beta=solver.config.beta)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"ompo-train's loss of pi^1 on all records: {reference:.6f}")
    print("RecordsTrainer losses per step:", ", ".join(f"{x:.6f}" for x in losses))


def main() -> None:
    """Build the tiny model (unless ``--model``), then run parts 1 and 2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for everything written")
    parser.add_argument("--model", type=Path, help="a local causal LM folder for part 1")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model
    if model_dir is None:
        from transformers import AutoTokenizer

        from ompo_envs.oracles.tiny_models import CORPUS, build_tiny_causal_lm

        prompt = "Let's play rock-paper-scissors. Reply with your move: rock, paper or scissors."
        model_dir = build_tiny_causal_lm(
            args.out / "tiny-lm", corpus=(*CORPUS, prompt, "rock paper scissors")
        )
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        tokenizer.chat_template = TOOL_CHAT_TEMPLATE
        tokenizer.save_pretrained(model_dir)
    grpo_in_a_game(model_dir, args.out)
    ompo_loss_in_a_trainer(args.out)


if __name__ == "__main__":
    main()
