"""Options and helpers shared by every command group (each declared once here)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..space import PRESETS, STRATEGIES

SPACE_CHOICES = tuple(PRESETS)
SAMPLER_CHOICES = STRATEGIES


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def with_example(p: argparse.ArgumentParser, *examples: str) -> argparse.ArgumentParser:
    """Show command lines under ``--help`` (every command has at least one)."""
    p.epilog = "example:\n" + "\n".join(f"  {e}" for e in examples)
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    return p


def add_json(p: argparse.ArgumentParser, help: str = "print one JSON object as the last line") -> None:
    p.add_argument("--json", action="store_true", help=help)


def add_seed(p: argparse.ArgumentParser, default: int = 0) -> None:
    p.add_argument("--seed", type=int, default=default, help="random seed (the same seed gives the same result on CPU)")


def add_device(p: argparse.ArgumentParser, *, bf16: bool = True) -> None:
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    if bf16:
        p.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")


def add_threads(p: argparse.ArgumentParser, default: int | None = None, help: str = "torch CPU threads") -> None:
    p.add_argument("--threads", type=int, default=default, help=help)


def add_space(p: argparse.ArgumentParser, default: str | None = None, help: str | None = None) -> None:
    p.add_argument("--space", choices=SPACE_CHOICES, default=default, help=help)


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def max_threads() -> int:
    return (os.cpu_count() or 1) * 4


def check_threads(threads: int | None) -> int | None:
    """One thread-count rule for every command: 1 .. 4 x the CPU count."""
    if threads is None:
        return None
    hi = max_threads()
    if not 1 <= threads <= hi:
        raise CLIError(f"--threads must be between 1 and {hi} (4 x the {os.cpu_count()} CPUs here), got {threads}")
    return threads


def apply_threads(args: argparse.Namespace) -> None:
    threads = check_threads(getattr(args, "threads", None))
    if threads:
        import torch

        torch.set_num_threads(threads)


def load_arch_and_space(path: str, space_name: str | None):
    """An architecture from a file or a published name, validated against its space (default: full)."""
    from ..space import get_space, load_architecture, validate

    arch, space = load_architecture(path)
    if space_name is not None:
        asked = get_space(space_name)
        if space is not None and asked != space:
            theirs, mine = space.to_json(), asked.to_json()
            differ = ", ".join(f"{k} {theirs[k]} vs {mine[k]}" for k in theirs if k != "name" and theirs[k] != mine[k])
            raise CLIError(f"{path} carries its space {space.name!r}; --space {space_name} differs ({differ or 'name'}; "
                           "--space is for an architecture file without one)")
        space = asked
    space = space or get_space("full")
    validate(arch, space, path=not arch.is_subnet)
    return arch, space


def schema_for(dataset: str):
    """A preset schema by name (criteo, avazu, kdd) or the schema of a data set directory."""
    from ..data import PRESET_SCHEMAS, CTRDataset

    if dataset in PRESET_SCHEMAS:
        return PRESET_SCHEMAS[dataset]
    return CTRDataset(dataset).schema


def json_safe(value: Any) -> Any:
    """``value`` with every NaN / infinity replaced by None, so the JSON we print is strict JSON."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def dumps(result: Any, **kwargs: Any) -> str:
    import json

    return json.dumps(json_safe(result), allow_nan=False, **kwargs)


def print_result(result: dict[str, Any], as_json: bool, text: str) -> None:
    print(dumps(result) if as_json else text)
