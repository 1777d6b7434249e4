"""Named search spaces: grids of rows (the study's tables, the demo) and Optuna spaces.

A row is a dict of trial parameters: ``fwd`` (and optionally ``bwd``) specs, ``placement``,
and any training override (``lr``...). A grid runs every row with every seed. An Optuna
space is a define-by-run function that samples a row. ``get(name)`` also takes the path
of a JSON file ``{"description": ..., "rows": [...], "training": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import compression


class SpaceError(ValueError):
    pass


@dataclass
class Space:
    name: str
    description: str
    default_task: str
    rows: list[dict] = field(default_factory=list)
    sample: Callable | None = None  # Optuna define-by-run: (trial) -> row
    training: dict = field(default_factory=dict)  # training params for the default task's family

    def training_for(self, task: str) -> dict:
        """The space's training for a task of its default task's family; a task of another
        family gets its own entry's training (a CV space never hands its settings to NLP)."""
        import trainables

        entry = trainables.task(task)
        if entry.family == trainables.task(self.default_task).family:
            return dict(self.training)
        return dict(entry.training)

    def base(self, task: str, overrides: dict | None = None) -> dict:
        """A trial's config before its row and seed: the space's training for the task, the
        overrides over it, and only keys the task's family knows (a CV space's image size never
        reaches an NLP trial)."""
        import trainables

        base = {**self.training_for(task), **(overrides or {}), "task": task}
        known = trainables.family(task).DEFAULTS
        return {k: v for k, v in base.items() if k in known}

    def grid(self, base: dict, seeds: int) -> list[dict]:
        """Every row x seed 0..seeds-1 over ``base`` (``Space.base``) as a trial config (rows
        without a placement get the task's cut)."""
        import trainables

        cut = trainables.default_placement(base["task"])
        return [{**base, "placement": cut, **canonical_row(row), "seed": s} for row in self.rows for s in range(seeds)]

    def sampled(self, trial) -> dict:
        """An Optuna space's row, its specs canonical as every stored spec is."""
        return canonical_row(self.sample(trial))

    @property
    def is_grid(self) -> bool:
        return self.sample is None

    def validate(self) -> None:
        if self.is_grid and not self.rows:
            raise SpaceError(f"space {self.name!r}: no rows (a grid needs at least one)")
        for i, row in enumerate(self.rows):
            if not isinstance(row, dict) or "fwd" not in row:
                raise SpaceError(f"space {self.name!r} row {i}: missing 'fwd' (placement defaults to the task's)")
            if not isinstance(row["fwd"], str) or not row["fwd"].strip():
                raise SpaceError(f"space {self.name!r} row {i}: fwd must be a non-empty spec string")
            for key in ("fwd", "bwd"):
                if row.get(key) is not None:
                    try:
                        compression.parse_spec(row[key])
                    except compression.SpecError as e:
                        raise SpaceError(f"space {self.name!r} row {i} {key}: {e}") from None


def canonical_row(row: dict) -> dict:
    """A row with its specs in their one canonical form (where specs enter: spaces and flags)."""
    return {**row, **{k: compression.canonical(row[k]) for k in ("fwd", "bwd") if row.get(k)}}


def _registry() -> dict[str, Space]:
    from . import beyond, demo, explore, results, seed_cv, seed_nlp

    spaces = (seed_cv.SPACE, seed_nlp.SPACE, explore.SPACE, demo.SPACE, beyond.SPACE, *results.SPACES)
    return {s.name: s for s in spaces}


def names() -> list[str]:
    return list(_registry())


def get(name: str) -> Space:
    reg = _registry()
    if name in reg:
        return reg[name]
    path = Path(name)
    if path.suffix == ".json":
        if not path.is_file():
            raise SpaceError(f"--space {name!r}: no such file")
        try:
            data = json.loads(path.read_text())
            space = Space(
                name=path.stem,
                description=data.get("description", ""),
                default_task=data.get("task", "fashion_mnist"),
                rows=list(data["rows"]),
                training=dict(data.get("training", {})),
            )
        except (ValueError, KeyError, TypeError) as e:
            raise SpaceError(f"--space {name!r}: not a space file ({e})") from None
        space.validate()
        return space
    raise SpaceError(f"--space {name!r}: unknown; choose one of {', '.join(reg)} or a .json file")
