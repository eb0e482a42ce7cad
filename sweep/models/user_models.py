"""Your own model: a function ``build(params, input_shape, num_classes) -> keras.Model``.

A search-space file names it (``model: mymodels:build``; or ``--model``, ``make MODEL=``,
``sweep.run(model=build)``), and its ``params:`` are then the function's own: each trial calls
it with the baseline's values overridden by the sampled ones. Only the training parameters
(:data:`TRAINING`) mean something to sweep, which compiles the model (Adam or AdamW, the
learning-rate schedule, cross-entropy) and trains it like its own CNNs: pruning, the time
limit, workers, PostgreSQL, the leaderboard, the retrain and the export all work unchanged.

    model: mymodels:build                # module:function, found from the working directory
    params:
      units:         {type: int, low: 32, high: 256, log: true}
      learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
    baseline: {units: 64, epochs: 10}    # trial 0: what every other trial must beat

Nothing here imports TensorFlow; :mod:`sweep.models.build` builds and compiles.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from sweep.errors import UsageError
from sweep.models.params import MNIST_BASELINE, SPECS, Architecture, Training

TRAINING = tuple(Training.__dataclass_fields__)
# Where neither the space nor its baseline says: the notebooks' Adam at 1e-3, batch 32, 5 epochs.
TRAINING_DEFAULTS: dict[str, Any] = {name: MNIST_BASELINE[name] for name in TRAINING}
_EXAMPLE = "e.g. mymodels:build for the function build in mymodels.py"

# Functions handed to sweep.run that worker processes cannot import (defined in a notebook or
# a script's __main__): they are found here, in the process that was handed them.
_REGISTERED: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class UserModel(Training):
    """One trial of a user's function: the parameters it is called with, and its training."""

    function: str  # module:function
    params: dict[str, Any] = field(compare=False)

    @classmethod
    def from_params(cls, function: str, params: Mapping[str, Any]) -> UserModel:
        """Check the training parameters (the function checks its own); fill in the missing."""
        full = {**TRAINING_DEFAULTS, **params}
        for name in TRAINING:
            SPECS[name].check(name, full[name])
        training = {name: full[name] for name in TRAINING}
        floats = ("learning_rate", "weight_decay", "label_smoothing")
        return cls(function=function, params=dict(full), **{**training, **{name: float(full[name]) for name in floats}})


# What trains: a point of sweep's CNN family, or of a user's function.
Plan = Architecture | UserModel


def plan(params: Mapping[str, Any], model: str | None) -> Plan:
    """The validated plan of a trial's parameters: sweep's CNN, or ``model``'s (a reference)."""
    return Architecture.from_params(params) if model is None else UserModel.from_params(model, params)


def check_reference(text: Any) -> str:
    """``module:function`` (the module may be a ``.py`` file); raises UsageError otherwise."""
    module, _, name = str(text).partition(":")
    # <locals>: a nested function handed to sweep.run (registered, see reference_of).
    parts = [part.isidentifier() or part == "<locals>" for part in name.split(".")]
    if not isinstance(text, str) or not module or not all(parts):
        raise UsageError(f"model {text!r}: expected module:function ({_EXAMPLE})")
    return text


def reference_of(function: Callable[..., Any]) -> str:
    """The reference of a Python function, registered so this process finds it even where no
    other process could import it (see :func:`importable`)."""
    if not callable(function) or not hasattr(function, "__qualname__"):
        raise UsageError(f"model: {function!r} is not a function; pass build(params, input_shape, num_classes)")
    if function.__name__ == "<lambda>":
        raise UsageError("model: a lambda has no name to record in the study; define it with def")
    reference = f"{function.__module__}:{function.__qualname__}"
    _REGISTERED[reference] = function
    return reference


def importable(reference: str) -> bool:
    """Whether another process can import ``reference`` (not a notebook's or nested function)."""
    module, _, name = reference.partition(":")
    return module != "__main__" and "<" not in name


def check_findable(reference: str) -> None:
    """Fail early, without running the user's code, when the module cannot be found."""
    module = reference.partition(":")[0]
    if reference in _REGISTERED:
        return
    if _is_file(module):
        if not Path(module).is_file():
            raise UsageError(f"model {reference}: file {module} not found")
        return
    _on_path()
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise UsageError(
            f"model {reference}: no module {module!r} here; run from the folder that holds "
            f"{module.replace('.', '/')}.py or add that folder to PYTHONPATH"
        )


def resolve(reference: str) -> Callable[..., Any]:
    """The function a reference names: imported, or registered by :func:`reference_of`."""
    if reference in _REGISTERED:
        return _REGISTERED[reference]
    module_name, _, name = reference.partition(":")
    if module_name == "__main__":
        raise UsageError(
            f"model {reference} was defined in a notebook or script, which this process cannot "
            "import: pass the function to sweep.run again, or move it into a module"
        )
    check_findable(reference)
    try:
        found: Any = _load(module_name)
    except Exception as error:  # the user's module failed to import: say how, in one line
        raise UsageError(
            f"model {reference}: importing {module_name} failed: {type(error).__name__}: {error}"
        ) from None
    for part in name.split("."):
        found = getattr(found, part, None)
    if not callable(found):
        raise UsageError(f"model {reference}: {module_name} has no function {name}")
    function: Callable[..., Any] = found
    return function


def _is_file(module: str) -> bool:
    return module.endswith(".py") or os.sep in module


def _on_path() -> None:
    """Put the working directory on the import path, as ``python -m`` does (the ``sweep``
    console script does not)."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _load(module: str) -> ModuleType:
    if not _is_file(module):
        _on_path()
        return importlib.import_module(module)
    path = Path(module).resolve()
    name = f"sweep_user_model_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None  # a .py file that exists (checked)
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[name] = loaded
    spec.loader.exec_module(loaded)
    return loaded


def user_baseline(distributions: Mapping[str, BaseDistribution], given: Mapping[str, Any]) -> dict[str, Any]:
    """Trial 0 of a user's model: the space's ``baseline:`` values; for parameters it leaves
    out, the notebooks' training, and KerasTuner's defaults (a range's low end, the first
    choice) for the function's own parameters."""
    defaults: dict[str, Any] = {}
    for name, dist in distributions.items():
        if isinstance(dist, CategoricalDistribution):
            defaults[name] = dist.choices[0]
        elif isinstance(dist, (IntDistribution, FloatDistribution)):
            defaults[name] = dist.low
    return {**defaults, **TRAINING_DEFAULTS, **given}
