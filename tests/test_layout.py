"""The layout's rules (sweep/__init__.py): rooms import only from rooms below them, other
rooms import only the modules a package exports, and the pure rooms never load TensorFlow.
Read from the source's syntax trees: no module is run but in the last test."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

SWEEP = Path(__file__).resolve().parent.parent / "sweep"
BENCH = SWEEP.parent / "bench"
# Lowest first, as sweep/__init__.py draws them. Top-level modules are rooms of their own.
ROOMS = [
    "errors files progress",
    "machine",
    "data",
    "models",
    "space",
    "deploy",
    "settings",
    "choice",
    "search",
    "reporting",
    "commands",
    "interface __init__ __main__",
]
ROOM = {name: level for level, names in enumerate(ROOMS) for name in names.split()}
# Rooms that never import TensorFlow, even inside a function; and the modules of other rooms
# they may use, which do not load it either (the last test imports them all).
PURE_ROOMS = {"space", "choice", "reporting"}
LIGHT = {"sweep.models.params", "sweep.models.user_models", "sweep.search.study", "sweep.errors", "sweep.files"}
HEAVY = ("tensorflow", "keras", "keras_tuner")


def module_name(path: Path) -> str:
    parts = path.relative_to(SWEEP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(SWEEP.rglob("*.py"))}


@cache
def imports(path: Path) -> list[str]:
    """Every module a file imports, at any depth (inside functions and TYPE_CHECKING too),
    as dotted names: ``from sweep.models import train`` is ``sweep.models.train``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                found.append(dotted if dotted in MODULES else node.module)
    return found


def room_of(module: str) -> str:
    """``sweep.search.study`` → ``search``; ``sweep.errors`` → ``errors``; ``sweep`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_module_is_in_a_room() -> None:
    assert {room_of(name) for name in MODULES} <= set(ROOM), "add the new module's room to ROOMS"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_room_imports_only_from_rooms_below_it(module: str) -> None:
    here = ROOM[room_of(module)]
    upward = [
        target
        for target in imports(MODULES[module])
        if target.startswith("sweep.") and target in MODULES and ROOM[room_of(target)] > here
    ]
    assert not upward, f"{module} (room {here}) imports from higher rooms: {upward}"


def exported(package: str) -> list[str]:
    """The modules a package lets other rooms import (its ``__all__``)."""
    tree = ast.parse((SWEEP / package.split(".")[1] / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


def test_every_package_says_what_it_holds_and_exports() -> None:
    packages = sorted({name for name, path in MODULES.items() if path.name == "__init__.py" and name != "sweep"})
    assert len(packages) >= 10
    for package in packages:
        assert ast.get_docstring(ast.parse((SWEEP.parent / package.replace(".", "/") / "__init__.py").read_text()))
        assert set(exported(package)) <= {name.rsplit(".", 1)[1] for name in MODULES if name.startswith(package + ".")}


@pytest.mark.parametrize("path", [*MODULES.values(), *sorted(BENCH.glob("*.py"))], ids=str)
def test_other_rooms_import_only_what_a_package_exports(path: Path) -> None:
    source = module_name(path) if path.is_relative_to(SWEEP) else "bench"
    private = [
        target
        for target in imports(path)
        if target.count(".") == 2
        and target in MODULES
        and room_of(target) != room_of(source)
        and target.rsplit(".", 1)[1] not in exported(target)
    ]
    assert not private, f"{source} imports modules private to their package: {private}"


@pytest.mark.parametrize("module", sorted(name for name in MODULES if room_of(name) in PURE_ROOMS))
def test_the_pure_rooms_never_import_tensorflow(module: str) -> None:
    for target in imports(MODULES[module]):
        assert target.split(".")[0] not in HEAVY, f"{module} imports {target}"
        if target.startswith("sweep.") and target in MODULES:
            assert room_of(target) in PURE_ROOMS or target in LIGHT, f"{module} imports {target}, which may load it"


def test_the_light_modules_load_without_tensorflow() -> None:
    light = sorted(LIGHT | {name for name in MODULES if room_of(name) in PURE_ROOMS} | {"sweep.interface.cli"})
    assert all(importlib.util.find_spec(name) for name in light)
    code = f"import sys; import {', '.join(light)}; print([m for m in {list(HEAVY)} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], cwd=SWEEP.parent, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("module", sorted(name for name in MODULES if name != "sweep.choice.trials"))
def test_a_trials_record_is_read_and_written_through_its_owner(module: str) -> None:
    """sweep.choice.trials owns the keys of ``user_attrs``; a study's own attributes are not a
    trial's record."""
    import re

    text = MODULES[module].read_text()
    direct = re.findall(r"(\w+)\.(?:user_attrs\b|set_user_attr\()", text)
    assert all(owner == "study" for owner in direct), f"{module} touches a trial's user_attrs: use sweep.choice.trials"
