"""A refused command takes away the folders it made and left empty, and nothing else."""

from __future__ import annotations

from pathlib import Path

from sweep.files import FoldersMade, make_folder, write_text


def test_a_refused_command_removes_only_the_empty_folders_it_made(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    made = FoldersMade()
    make_folder(tmp_path / "results" / "digits" / "best")
    write_text(tmp_path / "results" / "kept" / "note.txt", "written")
    (tmp_path / "results" / "theirs").mkdir()  # another process, meanwhile: not ours to take
    made.remove_empty()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["kept", "theirs"]
    assert (tmp_path / "results" / "kept" / "note.txt").read_text() == "written"


def test_folders_made_before_the_command_stay(tmp_path: Path) -> None:
    make_folder(tmp_path / "earlier")
    made = FoldersMade()
    make_folder(tmp_path / "earlier" / "now")
    made.remove_empty()
    assert (tmp_path / "earlier").is_dir() and not (tmp_path / "earlier" / "now").exists()
    made.remove_empty()  # a second call has nothing left to remove
    assert (tmp_path / "earlier").is_dir()
