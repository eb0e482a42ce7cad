"""Deployment limits: ``MAX_PARAMS``, ``MAX_SIZE_KB``, ``MAX_LATENCY_MS``, as pure functions.

A trial's figures (:mod:`sweep.deploy.deployment`) are its user attributes ``param_count``,
``tflite_kb`` (the float32 file) and ``latency_ms``. The parameter count of sweep's CNNs, and so a
floor under the file size (4 bytes a weight), are known before training: an architecture over
a limit there is never trained. The rest is measured once a trial completes; a trial over a
limit then is recorded as infeasible (``infeasible``, the reason), never chosen as the answer,
and the samplers learn from it through Optuna's constraints (:meth:`Limits.values`), which TPE
reads from every finished trial.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sweep.errors import UsageError

# A .tflite file holds 4 bytes per float32 weight, plus a few KiB of graph; batch norm's four
# values a channel are folded into the convolutions, a quarter or so of a tiny CNN's count. So
# before the file exists, 3 bytes per counted parameter is a floor on its size.
BYTES_PER_WEIGHT = 3
# Each limit's name among a trial's constraints.
KEYS = {"parameters": "max_params", "TFLite KiB": "max_size_kb", "latency ms": "max_latency_ms"}


@dataclass(frozen=True)
class Limits:
    """The deployment limits of a sweep; None: no limit."""

    max_params: int | None = None
    max_size_kb: float | None = None
    max_latency_ms: float | None = None

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is not None and (not math.isfinite(value) or value <= 0):
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} {value}: a limit must be a positive number; leave it out for none")

    def __bool__(self) -> bool:
        return any(value is not None for value in asdict(self).values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Limits:
        return cls(**(data or {}))

    def max_count(self) -> int | None:
        """The most parameters a model may have under these limits, as far as its size alone
        tells (None: no such limit)."""
        counts = [self.max_params] if self.max_params is not None else []
        if self.max_size_kb is not None:
            counts.append(int(self.max_size_kb * 1024 / BYTES_PER_WEIGHT))
        return min(counts, default=None)

    def _checks(self, attrs: Mapping[str, Any]) -> list[tuple[str, float | None, float]]:
        """(what, figure or None where unknown, limit) for every limit set, in the order of
        :data:`KEYS`."""
        params = attrs.get("param_count")
        size = attrs.get("tflite_kb")
        if size is None and params is not None:
            size = params * BYTES_PER_WEIGHT / 1024  # a floor, before the file exists
        checks = [
            ("parameters", params, self.max_params),
            ("TFLite KiB", size, self.max_size_kb),
            ("latency ms", attrs.get("latency_ms"), self.max_latency_ms),
        ]
        return [(what, figure, limit) for what, figure, limit in checks if limit is not None]

    def broken(self, attrs: Mapping[str, Any]) -> str:
        """Which limits a trial's figures break, in words ('' for none or none known)."""
        return "; ".join(
            f"{what} {figure:,.4g} > {limit:,.4g}"
            for what, figure, limit in self._checks(attrs)
            if figure is not None and figure > limit
        )

    def values(self, attrs: Mapping[str, Any]) -> dict[str, float]:
        """Optuna's constraint values (:meth:`optuna.Trial.set_constraint`), one per limit set:
        figure / limit - 1 (≤ 0: met; 0 where not known yet)."""
        return {
            KEYS[what]: 0.0 if figure is None else figure / limit - 1 for what, figure, limit in self._checks(attrs)
        }

    def check_reachable(self, smallest_params: int | None) -> None:
        """Fail before anything trains when even the space's smallest model breaks a limit."""
        if smallest_params is None:
            return
        broken = self.broken({"param_count": smallest_params})
        if broken:
            raise UsageError(
                f"no model in the search space meets the limits: its smallest has {broken}; "
                "raise the limit or search smaller models (fewer filters, dense_units, conv_blocks)"
            )
