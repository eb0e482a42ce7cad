"""Search-space files: YAML text → validated Optuna distributions, as pure functions.

The format (one file per dataset under ``search_spaces/``)::

    description: what this space is for          # optional
    params:
      filters_1:     {type: int, low: 16, high: 64, step: 16}
      dense_units:   {type: categorical, choices: [64, 128, 256]}
      learning_rate: {type: float, low: 1.0e-4, high: 3.0e-3, log: true}
    first_trials:                                # optional: points to try right after the baseline
      - {filters_1: 32, dense_units: 128}        # parameters left out are sampled
    portfolio: true                              # optional: sweep.space.portfolio's starting points too

Parameters a file does not name keep the dataset's baseline value. A file with ``model:`` sweeps
the user's own function instead, over parameters of its own (:mod:`sweep.models.user_models`).
Everything is checked here, before TensorFlow is imported, and every error names the file and the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweep.errors import UsageError
from sweep.models.params import Architecture, baseline_params, param_count_or_inf
from sweep.models.user_models import UserModel, check_reference, user_baseline
from sweep.space.distributions import SCALARS, contains, describe, distribution

# The shipped spaces live inside the package, so a wheel carries them; `search_spaces/` at the
# top of a checkout is a link to this folder, the place users read and edit them.
SPACES_DIR = Path(__file__).resolve().parent / "search_spaces"
IMAGE_FOLDER_SPACE = "image_folder"

_TOP_KEYS = {"description", "params", "first_trials", "portfolio", "model", "baseline"}
# `scale: data`: ranges written for this many training images. A smaller dataset needs more
# passes for as many gradient steps, but not as many more: the factor is the square root of
# the ratio, at most MAX_DATA_SCALE (1,000 images: ×7; 10,000: ×2.2; 50,000 and more: ×1).
REFERENCE_IMAGES = 50_000
MAX_DATA_SCALE = 10.0
# The parameters that decide whether the conv stack fits the image, and their worst values.
_SHRINKING = ("conv_blocks", "kernel_size", "padding", "pool_last")


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: where it came from and one Optuna distribution per parameter."""

    source: str
    description: str
    distributions: dict[str, BaseDistribution]
    data: dict[str, Any]  # the parsed YAML, JSON-safe, so a study can record the space it uses
    # Known good points, run in full right after the baseline (like Ray Tune's
    # points_to_evaluate): a prior the sampler cannot have after a handful of trials.
    first_trials: tuple[dict[str, Any], ...] = ()
    # Whether the dataset-agnostic starting points of sweep.space.portfolio run after them.
    portfolio: bool = False
    # Parameters whose range is written for REFERENCE_IMAGES training images and grows for
    # fewer (``scale: data``; epochs only): see :meth:`for_data`.
    data_scaled: tuple[str, ...] = ()
    # A user's model function (module:function), with its trial 0 (``baseline:``); None: the
    # CNN family, whose baseline is the dataset's notebook CNN.
    model: str | None = None
    baseline: dict[str, Any] = field(default_factory=dict)

    def baseline_for(self, dataset_kind: str, input_shape: tuple[int, int, int]) -> dict[str, Any]:
        """Trial 0's parameters: the user's baseline, or the dataset's notebook CNN."""
        if self.model is not None:
            return user_baseline(self.distributions, self.baseline)
        return baseline_params(dataset_kind, input_shape)

    def for_data(self, train_images: int) -> SearchSpace:
        """The space for a training split of ``train_images`` images: the bounds of
        ``scale: data`` parameters multiplied by :func:`data_scale`."""
        factor = data_scale(train_images)
        distributions = dict(self.distributions)
        for name in self.data_scaled:
            dist = distributions[name]
            assert isinstance(dist, IntDistribution)
            low, high = (max(1, round(bound * factor)) for bound in (dist.low, dist.high))
            distributions[name] = IntDistribution(low, max(low, high), log=dist.log)
        return replace(self, distributions=distributions, data_scaled=())

    def smallest_params(
        self, baseline: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int
    ) -> int | None:
        """About the fewest parameters a model of this space has (None: a user's model, whose
        size only building it tells). Coordinate descent over each parameter's values, twice:
        fewer conv blocks can mean more weights in a flattened head, so no corner is the least."""
        if self.model is not None:
            return None

        def count(point: Mapping[str, Any]) -> float:
            return param_count_or_inf(point, input_shape, num_classes)

        point = dict(baseline)
        for _ in range(2):
            for name, dist in self.distributions.items():
                point[name] = min(_candidates(dist), key=lambda value: count({**point, name: value}))
        least = count(point)
        return None if math.isinf(least) else int(least)

    def check_fits(self, baseline: Mapping[str, Any], input_shape: tuple[int, int, int]) -> None:
        """Raise UsageError unless the architecture fits the input at every point of the space.

        The output size only shrinks as conv_blocks and kernel_size grow, with 'valid'
        padding and with pool_last, so checking that worst corner covers the whole space.
        """
        if self.model is not None:
            return  # the user's function: only building it can tell
        worst = dict(baseline)
        for name, dist in self.distributions.items():
            if name in _SHRINKING:
                worst[name] = _worst_value(name, dist)
        try:
            Architecture.from_params(worst).check_fits(input_shape)
        except UsageError as error:
            raise UsageError(
                f"{self.source}: {self._blame(baseline, worst, input_shape)}: at its extreme, {error}"
            ) from None

    def _blame(self, baseline: Mapping[str, Any], worst: Mapping[str, Any], input_shape: tuple[int, int, int]) -> str:
        """Which parameter's extreme is too much for the input: one that is on its own, else
        the shrinking ones together, else the baseline itself."""
        shrinking = [name for name in _SHRINKING if name in self.distributions]

        def fits_alone(name: str) -> bool:
            try:
                Architecture.from_params({**baseline, name: worst[name]}).check_fits(input_shape)
            except UsageError:
                return False
            return True

        culprits = [name for name in shrinking if not fits_alone(name)][:1] or shrinking
        if not culprits:
            return "the baseline"
        names = " and ".join(f"'{name}'" for name in culprits)
        return f"parameter{'s' if len(culprits) > 1 else ''} {names}"


def _candidates(dist: BaseDistribution) -> list[Any]:
    """Values to try for the smallest model: every choice, every integer of a short range, or
    the ends of a long one."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    assert isinstance(dist, (IntDistribution, FloatDistribution))
    if isinstance(dist, IntDistribution) and (dist.high - dist.low) // dist.step <= 8:
        return list(range(dist.low, dist.high + 1, dist.step))
    return [dist.low, dist.high]


def data_scale(train_images: int) -> float:
    """How much the ``scale: data`` ranges grow for a training split of ``train_images``."""
    return min(max(math.sqrt(REFERENCE_IMAGES / max(train_images, 1)), 1.0), MAX_DATA_SCALE)


def _worst_value(name: str, dist: BaseDistribution) -> Any:
    """The value of a shrinking parameter that leaves the smallest feature map."""
    if isinstance(dist, CategoricalDistribution):
        if name == "padding":
            return "valid" if "valid" in dist.choices else dist.choices[0]
        numbers = [choice for choice in dist.choices if isinstance(choice, (int, float))]
        return max(numbers) if numbers else dist.choices[0]  # bools are numbers: True for pool_last
    assert isinstance(dist, IntDistribution)
    return dist.high


def parse_space(data: Any, source: str) -> SearchSpace:
    """Validate the parsed YAML of a search-space file and build its Optuna distributions."""
    if not isinstance(data, dict) or not isinstance(data.get("params"), dict):
        raise UsageError(f"{source}: needs a top-level 'params:' mapping of parameter ranges")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise UsageError(
            f"{source}: unknown top-level key(s) {', '.join(map(str, unknown))}; "
            f"allowed: {', '.join(sorted(_TOP_KEYS))}"
        )
    if not data["params"]:
        raise UsageError(f"{source}: 'params:' is empty; name at least one parameter to search")
    try:
        model = check_reference(data["model"]) if data.get("model") is not None else None
    except UsageError as error:
        raise UsageError(f"{source}: {error}") from None
    distributions = {}
    for name, spec in data["params"].items():
        try:
            distributions[str(name)] = distribution(str(name), spec, free=model is not None)
        except UsageError as error:
            raise UsageError(f"{source}: {error}") from None
    baseline = data.get("baseline", {})
    if model is None and "baseline" in data:
        raise UsageError(f"{source}: 'baseline:' is for spaces with 'model:' (your own function)")
    if not isinstance(baseline, dict) or not all(isinstance(value, SCALARS) for value in baseline.values()):
        raise UsageError(f"{source}: 'baseline:' must map parameter names to values, got {baseline!r}")
    if model is not None and data.get("portfolio"):
        raise UsageError(f"{source}: 'portfolio: true' starts from sweep's CNNs; leave it out with 'model:'")
    if model is not None:
        try:
            UserModel.from_params(model, user_baseline(distributions, baseline))
        except UsageError as error:
            raise UsageError(f"{source}: baseline: {error}") from None
    scaled = tuple(str(name) for name, spec in data["params"].items() if spec.get("scale"))
    return SearchSpace(
        source=source,
        description=str(data.get("description", "")).strip(),
        distributions=distributions,
        data=data,
        first_trials=_first_trials(data.get("first_trials", []), distributions, source),
        portfolio=_flag(data, "portfolio", source),
        data_scaled=scaled,
        model=model,
        baseline={str(name): value for name, value in baseline.items()},
    )


def _flag(data: Mapping[str, Any], key: str, source: str) -> bool:
    """A true/false top-level key (false when absent)."""
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f"{source}: '{key}:' must be true or false, got {value!r}")
    return value


def _first_trials(
    points: Any, distributions: Mapping[str, BaseDistribution], source: str
) -> tuple[dict[str, Any], ...]:
    """Validate ``first_trials:``: a list of mappings, each value one its distribution can take."""
    if not isinstance(points, list):
        raise UsageError(
            f"{source}: 'first_trials:' must be a list of mappings like - {{filters_1: 32, epochs: 5}}, got {points!r}"
        )
    for index, point in enumerate(points):
        where = f"{source}: first_trials[{index}]"
        if not isinstance(point, dict) or not point:
            raise UsageError(f"{where}: expected a non-empty mapping of parameter values, got {point!r}")
        for name, value in point.items():
            dist = distributions.get(str(name))
            if dist is None:
                raise UsageError(
                    f"{where}: '{name}' is not searched in this space (searched: "
                    f"{', '.join(distributions)}); add it under 'params:' or leave it out"
                )
            if not contains(dist, value):
                raise UsageError(f"{where}: {name} {value!r} is not in its range ({describe(dist)})")
    return tuple(dict(point) for point in points)


# A search space is a page of YAML: a file far larger is not one.
MAX_SPACE_BYTES = 1024 * 1024
# Deeper than this, YAML nests only to exhaust the parser's recursion.
MAX_YAML_DEPTH = 50


class _SpaceLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing aliases (a few lines of them expand to billions of
    values, "billion laughs"), nesting deeper than MAX_YAML_DEPTH, and a key given twice in one
    mapping (PyYAML keeps the last silently: an edit to the first would change nothing)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in a search space", event.start_mark
            )
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_YAML_DEPTH} levels", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!r} is given twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_space(path: str | Path, model: str | None = None) -> SearchSpace:
    """Read and validate a search-space file; ``model`` (module:function) replaces its own."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SPACE_BYTES + 1)  # /dev/zero, or a log passed by mistake
        if len(raw) > MAX_SPACE_BYTES:
            raise UsageError(f"{path}: over {MAX_SPACE_BYTES // 1024} KiB, too large for a search-space file")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: search-space file not found") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file in UTF-8; save the search space as UTF-8 YAML") from None
    except OSError as error:
        raise UsageError(f"{path}: cannot read search-space file ({error.strerror})") from None
    try:
        data = yaml.load(text, Loader=_SpaceLoader)  # noqa: S506 - a SafeLoader, without aliases
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise UsageError(f"{path}: not valid YAML{where}: {problem}") from None
    if model is not None and isinstance(data, dict):
        data = {**data, "model": model}
    return parse_space(data, str(path))


def default_space_path(dataset_key: str) -> Path:
    """The shipped space of a built-in dataset, or the generic one for image folders."""
    own = SPACES_DIR / f"{dataset_key}.yaml"
    return own if own.is_file() else SPACES_DIR / f"{IMAGE_FOLDER_SPACE}.yaml"


def shipped_spaces() -> list[Path]:
    """Every search-space file that ships with the tool."""
    return sorted(SPACES_DIR.glob("*.yaml"))
