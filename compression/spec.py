"""Compressor specs: the short strings users type and MLflow stores.

``"sortquant:b=6,s=2"`` <-> ``Spec(method="sortquant", params={"b": 6, "s": 2, ...})``.
Parsing validates every field and fills defaults, so a ``Spec`` is always valid and its
``str()`` is canonical (the same setting always gives the same string).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


class SpecError(ValueError):
    """A compressor spec that cannot be built; the message names field, value and what is allowed."""


def _int_in(lo: int, hi: int):
    def conv(field_: str, raw: Any) -> int:
        try:
            f = float(raw)
        except (TypeError, ValueError):
            f = math.nan
        if not math.isfinite(f) or f != int(f) or not lo <= int(f) <= hi:
            raise SpecError(f"{field_}={raw}: must be an integer in [{lo}, {hi}]")
        return int(f)

    return conv


def _ratio(field_: str, raw: Any) -> float:
    try:
        r = float(raw)
    except (TypeError, ValueError):
        r = math.nan
    if not (math.isfinite(r) and 0.0 < r <= 1.0):
        raise SpecError(f"{field_}={raw}: must be a kept fraction in (0, 1]")
    return r


def _choice(*allowed: str):
    def conv(field_: str, raw: Any) -> str:
        if str(raw) not in allowed:
            raise SpecError(f"{field_}={raw}: must be one of {', '.join(allowed)}")
        return str(raw)

    return conv


def _percentile(field_: str, raw: Any) -> float:
    try:
        p = float(raw)
    except (TypeError, ValueError):
        p = math.nan
    if not (math.isfinite(p) and 50.0 < p <= 100.0):
        raise SpecError(f"{field_}={raw}: must be a percentile in (50, 100] (100 = no clipping)")
    return p


def _power_of_two(field_: str, raw: Any) -> int:
    v = _int_in(2, 1024)(field_, raw)
    if v & (v - 1):
        raise SpecError(f"{field_}={raw}: must be a power of two in [2, 1024]")
    return v


def _iters(field_: str, raw: Any) -> int | str:
    if str(raw) == "converge":
        return "converge"
    return _int_in(1, 10_000)(field_, raw)


# method -> {field: (converter, default or None if required)}
ROUNDS = ("nearest", "stochastic")
RANGES = ("minmax", "absmax")
GROUPS = ("tensor", "channel", "block128")
FIELDS: dict[str, dict[str, tuple[Any, Any]]] = {
    "none": {},
    "uniform": {
        "b": (_int_in(1, 16), None),
        "group": (_choice(*GROUPS), "tensor"),
        "round": (_choice(*ROUNDS), "nearest"),
        "range": (_choice(*RANGES), "minmax"),
        "clip": (_percentile, 100.0),
    },
    "sortquant": {
        "b": (_int_in(1, 16), None),
        "s": (_int_in(0, 8), None),
        "round": (_choice(*ROUNDS), "nearest"),
        "clip": (_percentile, 100.0),
    },
    "topk": {"r": (_ratio, None)},
    "kmeans": {"b": (_int_in(1, 8), None), "iters": (_iters, 20)},
    # AQ-SGD (forward only): per example, the quantized change since its last reconstruction
    "delta": {
        "b": (_int_in(2, 16), None),
        "round": (_choice(*ROUNDS), "nearest"),
        "range": (_choice(*RANGES), "absmax"),
        "group": (_choice(*GROUPS), "tensor"),
        "buffer": (_choice("fp16", "fp32"), "fp16"),
    },
    # backward only: send the gradient at the positions the forward top-k kept
    "mask": {},
    # float8 codes of the values scaled into the format's range (its default backward: e5m2)
    "fp8": {"fmt": (_choice("e4m3", "e5m2"), "e4m3"), "scale": (_choice("tensor", "block128"), "tensor")},
    # tiles of the feature dim, each at B bits from its own min/step; outlier tiles pivot-swapped
    # and Walsh-Hadamard rotated first (TAH-Quant)
    "hadamard": {
        "b": (_int_in(2, 8), None),
        "tile": (_power_of_two, 64),
        "rotate": (_choice("outlier", "all"), "outlier"),
    },
    # rank-R factors of the [positions, features] matrix, one warm-started power iteration a step
    "lowrank": {"r": (_int_in(1, 4096), None)},
    # a trainable down/up projection of the feature dim around the cut; the R-dim code crosses
    # at b bits (absmax; 32 = as fp32) and its gradient comes back in the same R dims
    "bottleneck": {"r": (_int_in(1, 4096), None), "b": (_int_in(2, 32), 32)},
}
METHODS = tuple(FIELDS)


@dataclass(frozen=True)
class Spec:
    method: str
    params: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        """Canonical: fields in a fixed order, defaults left out."""
        shown = {k: v for k, v in self.params.items() if v != FIELDS[self.method][k][1]}
        if not shown:
            return self.method
        body = ",".join(f"{k}={_fmt(v)}" for k, v in shown.items())
        return f"{self.method}:{body}"

    def inner(self) -> Spec:
        """delta: the direct uniform quantizer of the same bits it sends deltas with."""
        p = self.params
        return Spec(
            "uniform", {"b": p["b"], "group": p["group"], "round": p["round"], "range": p["range"], "clip": 100.0}
        )


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


def canonical(spec: str | dict | Spec) -> str:
    """The one canonical string of a spec (fields in a fixed order, defaults left out): what a
    space or a flag stores, so that stored configs are read back as they are. SpecError if bad."""
    return str(parse_spec(spec))


def parse_spec(spec: str | dict | Spec) -> Spec:
    """Parse and validate ``"method:key=value,..."`` (or the dict ``{"method": ..., key: value}``)."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, dict):
        raw = dict(spec)
        method = raw.pop("method", None)
        if method is None:
            raise SpecError(f"spec {spec!r}: missing field 'method' (one of {', '.join(METHODS)})")
        items = list(raw.items())
    elif isinstance(spec, str):
        text = spec.strip()
        method, _, body = text.partition(":")
        method = method.strip()
        items = []
        if body.strip():
            for part in body.split(","):
                key, eq, value = part.partition("=")
                if not eq or not key.strip() or not value.strip():
                    raise SpecError(f"spec {spec!r}: field {part.strip()!r} is not of the form key=value")
                items.append((key.strip(), value.strip()))
    else:
        raise SpecError(f"spec {spec!r}: must be a string like 'uniform:b=8' or a dict")

    if method not in FIELDS:
        raise SpecError(f"method={method!r}: must be one of {', '.join(METHODS)}")
    fields = FIELDS[method]
    seen: dict[str, Any] = {}
    for key, value in items:
        if key not in fields:
            allowed = ", ".join(fields) or "no fields"
            raise SpecError(f"{method}: unknown field {key!r}={value!r} (allowed: {allowed})")
        if key in seen:
            raise SpecError(f"{method}: field {key!r} given twice")
        try:
            seen[key] = fields[key][0](key, value)
        except SpecError as e:
            raise SpecError(f"{method}: {e}") from None
    params: dict[str, Any] = {}
    for key, (_, default) in fields.items():
        if key in seen:
            params[key] = seen[key]
        elif default is None:
            raise SpecError(f"{method}: missing required field {key!r}")
        else:
            params[key] = default
    if params.get("range") == "absmax" and params["b"] < 2:
        raise SpecError(f"{method}: range=absmax needs b >= 2 (codes -L..L with L = 2^(b-1) - 1)")
    if params.get("clip", 100.0) < 100.0 and params.get("group", "tensor") != "tensor":
        raise SpecError(f"{method}: clip={params['clip']} needs group=tensor (one range per tensor)")
    if method == "sortquant" and params["b"] + params["s"] > 16:
        raise SpecError(
            f"sortquant: b+s={params['b']}+{params['s']}={params['b'] + params['s']}: must be at most 16 bits per value"
        )
    return Spec(method, params)
