"""One parameter's range in a search-space file → its Optuna distribution, as pure functions.

    filters_1:     {type: int, low: 16, high: 64, step: 16}
    dense_units:   {type: categorical, choices: [64, 128, 256]}
    learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    epochs:        {type: int, low: 5, high: 30, log: true, scale: data}

Parameters of sweep's CNN family are checked against :data:`sweep.models.params.SPECS`; a user's model
function (:mod:`sweep.models.user_models`) takes parameters of any name, whose values need only be
numbers, text or true/false. Every error names the parameter.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweep.errors import UsageError
from sweep.models.params import SPECS, ParamSpec, is_kind

_RANGE_KEYS = {"type", "low", "high", "step", "log", "scale"}
_CATEGORICAL_KEYS = {"type", "choices"}
# The leaderboard's own columns (sweep.choice.leaderboard): a user's parameter of that name would
# overwrite one.
RESERVED = {
    "rank", "trial", "state", "val_accuracy", "val_low", "val_high", "val_loss", "best_epoch", "epochs_run",
    "origin", "pareto", "param_count", "tflite_kb", "int8_kb", "latency_ms", "infeasible", "fit_seconds",
    "started", "finished", "stopped_by", "error",
}  # fmt: skip
# What a free-form parameter's values and a baseline's may be (what Optuna can store).
SCALARS = (str, int, float, bool)


def contains(dist: BaseDistribution, value: Any) -> bool:
    """Whether a distribution can produce ``value`` (the baseline may lie outside a space)."""
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    assert isinstance(dist, (IntDistribution, FloatDistribution))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not dist.low <= value <= dist.high:
        return False
    if dist.step is None:
        return True
    steps = (value - dist.low) / dist.step
    return abs(steps - round(steps)) < 1e-9


def describe(dist: BaseDistribution) -> str:
    """A distribution as a user wrote it: 'one of 64, 128' or '2 to 8, step 2, log'."""
    if isinstance(dist, CategoricalDistribution):
        return "one of " + ", ".join(map(str, dist.choices))
    assert isinstance(dist, (IntDistribution, FloatDistribution))
    step = f", step {dist.step}" if dist.step not in (None, 1) else ""
    return f"{dist.low} to {dist.high}{step}{', log' if dist.log else ''}"


def distribution(name: str, spec: Any, free: bool = False) -> BaseDistribution:
    """One parameter's YAML mapping → its Optuna distribution (raises UsageError). ``free``: a
    user's function takes parameters of any name; those sweep knows are still checked."""
    if name not in SPECS and not free:
        raise UsageError(f"unknown parameter '{name}'; known: {', '.join(SPECS)}")
    if name not in SPECS and (not name.isidentifier() or name in RESERVED):
        raise UsageError(
            f"parameter '{name}': name a parameter with letters, digits and _, and not after a "
            f"leaderboard column ({', '.join(sorted(RESERVED))})"
        )
    if not isinstance(spec, dict):
        raise UsageError(f"parameter '{name}': expected a mapping like {{type: int, low: 1, high: 4}}, got {spec!r}")
    kind = spec.get("type")
    allowed = {"int": _RANGE_KEYS, "float": _RANGE_KEYS, "categorical": _CATEGORICAL_KEYS}
    if kind not in allowed:
        raise UsageError(f"parameter '{name}': type {kind!r} is not one of int, float, categorical")
    unknown = sorted(set(spec) - allowed[kind])
    if unknown:
        raise UsageError(
            f"parameter '{name}': unknown key(s) {', '.join(map(str, unknown))} for type "
            f"{kind}; allowed: {', '.join(sorted(allowed[kind]))}"
        )
    param = SPECS.get(name) or ParamSpec(float if kind == "float" else int)
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UsageError(f"parameter '{name}': choices must be a non-empty list")
        if name not in SPECS and not all(isinstance(choice, SCALARS) for choice in choices):
            raise UsageError(f"parameter '{name}': choices must be numbers, text or true/false, got {choices!r}")
        if name not in SPECS:
            return CategoricalDistribution(choices)
        for choice in choices:
            param.check(name, choice)
        return CategoricalDistribution(choices)

    expected = int if kind == "int" else float
    if param.kind is not expected:
        hint = "categorical" if param.kind in (bool, str) else param.kind.__name__
        raise UsageError(f"parameter '{name}': type {kind} does not fit it; use type {hint}")
    low, high = (_number(name, key, spec.get(key), expected) for key in ("low", "high"))
    param.check(name, low)
    param.check(name, high)
    if low > high:
        raise UsageError(f"parameter '{name}': low {low} is greater than high {high}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise UsageError(f"parameter '{name}': log must be true or false, got {log!r}")
    step = spec.get("step")
    if step is not None:
        step = _number(name, "step", step, expected)
        if step <= 0:
            raise UsageError(f"parameter '{name}': step must be positive, got {step}")
        if log:
            raise UsageError(f"parameter '{name}': step and log cannot be used together")
    if log and low <= 0:
        raise UsageError(f"parameter '{name}': log: true needs low > 0, got {low}")
    if spec.get("scale", "data") != "data" or ("scale" in spec and (name != "epochs" or step is not None)):
        raise UsageError(
            f"parameter '{name}': 'scale: data' is for epochs without a step only "
            f"(more epochs for smaller datasets), got scale {spec['scale']!r}"
        )
    if expected is int:
        return IntDistribution(low, high, log=log, step=step or 1)
    return FloatDistribution(float(low), float(high), log=log, step=step)


def _number(name: str, key: str, value: Any, kind: type) -> Any:
    """A bound of a range: present, a number of the right kind and finite."""
    if value is None:
        raise UsageError(f"parameter '{name}': '{key}' is missing")
    if isinstance(value, str):
        spelled = _as_yaml_float(value)
        hint = f" (YAML reads {value} as text; write {spelled})" if spelled else ""
        raise UsageError(f"parameter '{name}': {key} {value!r} is not a number{hint}")
    if not is_kind(value, kind):
        wanted = "an integer" if kind is int else "a number"
        raise UsageError(f"parameter '{name}': {key} {value!r} is not {wanted}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"parameter '{name}': {key} {value!r} is not finite")
    return value


def _as_yaml_float(text: str) -> str:
    """How to spell ``1e-4`` so that YAML 1.1 reads a float (``1.0e-4``), or '' if not numeric."""
    try:
        float(text)
    except ValueError:
        return ""
    mantissa, _, exponent = text.lower().partition("e")
    if not exponent:
        return ""
    if "." not in mantissa:
        mantissa += ".0"
    if exponent[0] not in "+-":
        exponent = "+" + exponent  # YAML 1.1 reads 1.0e5 as text; it needs 1.0e+5
    return f"{mantissa}e{exponent}"
