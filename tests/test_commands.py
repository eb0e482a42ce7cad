"""Tests for sweep.commands.tools: the `spaces` command, which checks and lists search-space files."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweep.interface.cli import main
from sweep.space.spaces import load_space
from tests.fixtures import SHIPPED


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_cli_checks_shipped_space(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces", "--check", str(SHIPPED[name])]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"OK: {SHIPPED[name]}") and err == ""
    assert ("first trial(s)" in out) == bool(load_space(SHIPPED[name]).first_trials)


def test_cli_rejects_bad_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("params:\n  dropout: {type: float, low: 0.0, high: 1.5}\n")
    assert main(["spaces", "--check", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("sweep: ")
    assert str(path) in err and "dropout" in err


def test_cli_checks_space_against_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Valid YAML, but too deep for 8×8 digits with 'valid' padding.
    path = tmp_path / "deep.yaml"
    path.write_text("params:\n  padding: {type: categorical, choices: [valid]}\n")
    assert main(["spaces", "--check", str(path)]) == 0
    capsys.readouterr()
    assert main(["spaces", "--check", str(path), "--dataset", "digits"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not fit 8×8" in err and str(path) in err


def test_cli_lists_shipped_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert name in out
