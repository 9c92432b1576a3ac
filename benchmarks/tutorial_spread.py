"""``ompo-bench tutorial-spread``: a tutorial's hidden checks over seeds and numeric kernels.

A tutorial's hidden cells (``:tags: [remove-cell]``) assert what the tutorial teaches. Where it
trains a model, the digits depend on the processor (torch's CPU kernels, OpenBLAS's) and on the
seed, so a check must hold for every processor a reader may have, not for the one that wrote
it. This benchmark runs the tutorial's code cells as a script, once per (seed, kernel) in a
fresh process with the kernel forced (``ATEN_CPU_CAPABILITY``, ``OPENBLAS_CORETYPE``), with
every seed the tutorial writes shifted (``seed=0`` → ``seed=k``, ``default_rng(n)`` →
``default_rng(n + 1000·k)``), and records, for every hidden ``assert``, whether it held and the
values it compared. The margins of a tutorial's checks come from this spread (their comments
state the extremes), and ``.ci/run`` replays the tutorial itself under a second kernel.

ompo-bench tutorial-spread docs/tutorials/08_tiny_language_model.md --seeds 0 1 2 3 4 5 6 7

Writes ``tutorial-spread__{stem}__{unix time}.json`` with one row per run and the extremes of
each compared value over all runs.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.environment import KERNELS, describe, numeric_environment

_CELL = re.compile(r"```\{code-cell\}[^\n]*\n(.*?)```", re.S)
_HIDDEN = ":tags: [remove-cell]"


def code_cells(markdown: str) -> list[tuple[bool, str]]:
    """The tutorial's code cells in order, as (hidden, source); front matter and magics dropped."""
    cells = []
    for body in _CELL.findall(markdown):
        hidden = body.startswith(_HIDDEN)
        if hidden:
            body = body[len(_HIDDEN) :]
        elif body.startswith("---"):  # a cell's YAML options
            body = body.split("---", 2)[2]
        lines = [line for line in body.splitlines() if not line.lstrip().startswith("%")]
        cells.append((hidden, "\n".join(lines) + "\n"))
    return cells


def reseed(source: str, seed: int) -> str:
    """Shift every literal seed of ``source`` by ``seed`` (``seed=0`` → ``seed=seed``)."""
    if seed == 0:
        return source
    source = re.sub(r"\bseed=(\d+)", lambda m: f"seed={int(m.group(1)) + seed}", source)
    return re.sub(
        r"default_rng\((\d+)\)", lambda m: f"default_rng({int(m.group(1)) + 1000 * seed})", source
    )


class _RecordAsserts(ast.NodeTransformer):
    """``assert a < b`` → ``_record(line, a < b, [a, b])`` (operands of a comparison kept)."""

    def __init__(self, cell: int) -> None:
        self.cell = cell

    def visit_Assert(self, node: ast.Assert) -> ast.Expr:
        operands: list[ast.expr] = []
        if isinstance(node.test, ast.Compare):
            operands = [node.test.left, *node.test.comparators]
        label = f"cell {self.cell}: {ast.unparse(node.test)}"
        call = ast.Call(
            func=ast.Name("_record", ast.Load()),
            args=[
                ast.Constant(label),
                ast.Lambda(_no_arguments(), node.test),
                ast.Lambda(_no_arguments(), ast.List(operands, ast.Load())),
            ],
            keywords=[],
        )
        return ast.copy_location(ast.Expr(call), node)


def _no_arguments() -> ast.arguments:
    return ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[], defaults=[])


def _record(checks: list[dict[str, Any]]):
    def record(label: str, test, operands) -> None:
        try:
            held = bool(test())
        except AssertionError:
            held = False
        try:
            values = [float(v) for v in operands()]
        except (TypeError, ValueError):
            values = []
        checks.append({"check": label, "held": held, "values": values})

    return record


def run_tutorial(path: Path, seed: int) -> list[dict[str, Any]]:
    """Execute ``path``'s cells with shifted seeds in this process; return every hidden check.

    A hidden ``np.testing.assert_*`` call that raises counts as a failed check.
    """
    checks: list[dict[str, Any]] = []
    namespace: dict[str, Any] = {"_record": _record(checks), "__name__": "__tutorial__"}
    for index, (hidden, source) in enumerate(code_cells(path.read_text(encoding="utf-8"))):
        tree = ast.parse(reseed(source, seed))
        if hidden:
            tree = ast.fix_missing_locations(_RecordAsserts(index).visit(tree))
        try:
            exec(compile(tree, f"{path.name}[{index}]", "exec"), namespace)
        except AssertionError as error:
            if not hidden:
                raise
            checks.append({"check": f"cell {index}: {error}", "held": False, "values": []})
    return checks


def spread(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per check: how many runs it held in, and the smallest and largest of each compared value."""
    out: dict[str, Any] = {}
    for row in rows:
        for check in row.get("checks", []):
            entry = out.setdefault(check["check"], {"held": 0, "runs": 0, "min": [], "max": []})
            entry["runs"] += 1
            entry["held"] += int(check["held"])
            values = check["values"]
            if values and len(entry["min"]) in (0, len(values)):
                low, high = entry["min"] or values, entry["max"] or values
                entry["min"] = [min(a, b) for a, b in zip(low, values, strict=True)]
                entry["max"] = [max(a, b) for a, b in zip(high, values, strict=True)]
    return out


def _one(path: Path, seed: int, kernel: str, timeout: float) -> dict[str, Any]:
    capability, core = KERNELS[kernel]
    env = {**os.environ, "ATEN_CPU_CAPABILITY": capability, "OPENBLAS_CORETYPE": core}
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"})
    command = [sys.executable, "-m", "benchmarks.tutorial_spread", "--worker", str(path)]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--seeds", str(seed)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    row: dict[str, Any] = {"seed": seed, "kernel": kernel, "seconds": time.perf_counter() - start}
    lines = [x for x in done.stdout.splitlines() if x.startswith("CHECKS ")]
    if done.returncode != 0 or not lines:
        row["error"] = done.stderr[-2000:]
        return row
    payload = json.loads(lines[-1][len("CHECKS ") :])
    row["checks"], row["environment"] = payload["checks"], payload["environment"]
    return row


def _worker(path: Path, seed: int) -> int:
    import torch

    torch.set_num_threads(1)
    checks = run_tutorial(path, seed)
    print("CHECKS " + json.dumps({"checks": checks, "environment": numeric_environment()}))
    return 0


def _command(args: argparse.Namespace) -> int:
    path = Path(args.tutorial)
    if not path.is_file():
        raise SystemExit(f"ompo-bench tutorial-spread: no tutorial at {path}")
    if args.worker:
        return _worker(path, args.seeds[0])
    unknown = sorted(set(args.kernels) - set(KERNELS))
    if unknown:
        raise SystemExit(f"ompo-bench tutorial-spread: unknown kernels {unknown}; use {KERNELS}")
    rows = []
    for kernel in args.kernels:
        for seed in args.seeds:
            row = _one(path, seed, kernel, args.timeout)
            failed = [c["check"] for c in row.get("checks", []) if not c["held"]]
            status = "error" if "error" in row else f"{len(failed)} failed"
            if seed == args.seeds[0] and "environment" in row:  # what the forcing gave
                print(f"{kernel}: {describe(row['environment'])}")
            print(f"{kernel:8s} seed {seed}: {status} ({row['seconds']:.0f} s)", flush=True)
            for check in failed:
                print(f"    {check}")
            rows.append(row)
    report = {"tutorial": str(path), "seeds": args.seeds, "kernels": args.kernels, "runs": rows}
    report["spread"] = spread(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"tutorial-spread__{path.stem}__{int(time.time())}.json"
    target.write_text(json.dumps(report, indent=1))
    for check, entry in report["spread"].items():
        bounds = zip(entry["min"], entry["max"], strict=True)
        values = " ".join(f"[{a:.3g}, {b:.3g}]" for a, b in bounds)
        print(f"{entry['held']}/{entry['runs']}  {check}  {values}")
    print(f"wrote {target}")
    ok = all("error" not in r and all(c["held"] for c in r["checks"]) for r in rows)
    return 0 if ok else 1


def add_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Register ``ompo-bench tutorial-spread`` and its arguments."""
    parser = subparsers.add_parser(
        "tutorial-spread",
        help="run a tutorial's hidden checks over seeds and forced numeric kernels",
        description=__doc__.splitlines()[0],
    )
    parser.add_argument("tutorial", help="a docs/tutorials/*.md file")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(range(8)))
    parser.add_argument(
        "--kernels",
        nargs="+",
        default=["avx512", "avx2", "default"],
        help=f"of {list(KERNELS)} (default: avx512 avx2 default)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds per run")
    parser.add_argument("--out", default="results", help="output folder (default results/)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(handler=_command)


if __name__ == "__main__":
    _parser = argparse.ArgumentParser(prog="python -m benchmarks.tutorial_spread")
    add_subcommand(_parser.add_subparsers(dest="command", required=True))
    _args = _parser.parse_args(["tutorial-spread", *sys.argv[1:]])
    raise SystemExit(_args.handler(_args))
