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


def _iters(field_: str, raw: Any) -> int | str:
    if str(raw) == "converge":
        return "converge"
    return _int_in(1, 10_000)(field_, raw)


# method -> {field: (converter, default or None if required)}
FIELDS: dict[str, dict[str, tuple[Any, Any]]] = {
    "none": {},
    "uniform": {
        "b": (_int_in(1, 16), None),
        "group": (_choice("tensor", "channel", "block128"), "tensor"),
        "round": (_choice("nearest", "stochastic"), "nearest"),
    },
    "sortquant": {
        "b": (_int_in(1, 16), None),
        "s": (_int_in(0, 8), None),
        "round": (_choice("nearest", "stochastic"), "nearest"),
    },
    "topk": {"r": (_ratio, None)},
    "kmeans": {"b": (_int_in(1, 8), None), "iters": (_iters, 20)},
    # backward only: send the gradient at the positions the forward top-k kept
    "mask": {},
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

    @property
    def bits_per_value(self) -> float:
        """Nominal code bits per value (32 for none, values+index bits left out for topk)."""
        p = self.params
        if self.method == "uniform":
            return p["b"]
        if self.method == "sortquant":
            return p["b"] + p["s"]
        if self.method == "kmeans":
            return p["b"]
        return 32.0


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)
    return str(v)


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
    if method == "sortquant" and params["b"] + params["s"] > 16:
        raise SpecError(
            f"sortquant: b+s={params['b']}+{params['s']}={params['b'] + params['s']}: must be at most 16 bits per value"
        )
    return Spec(method, params)
