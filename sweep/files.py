"""Writing results safely: every file appears whole or not at all (temp file, then rename)."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sweep.errors import UsageError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


# Every folder this process made through `make_folder`, in order: a refused command takes
# away those it left empty, and touches nothing it did not make (not a folder another process
# made meanwhile, even under a results root as wide as the disk).
_MADE: list[Path] = []


def make_folder(folder: Path) -> Path:
    """``mkdir -p folder``, remembering each folder it made (for `FoldersMade`)."""
    missing = [folder, *folder.parents]
    missing = [f for f in reversed(missing) if not f.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    _MADE.extend(missing)
    return folder


def ensure_writable(folder: Path) -> Path:
    """Create ``folder`` if needed and prove it is writable, before any long work starts."""
    try:
        make_folder(folder)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise UsageError(
            f"cannot write results to {folder} ({error.strerror or error}); "
            "fix its permissions or choose another folder with --results"
        ) from None
    return folder


class FoldersMade:
    """The folders a command makes (through `make_folder`) from now on, so that a refused
    command can take away those it left empty: bad input writes nothing, not even a folder."""

    def __init__(self) -> None:
        self.start = len(_MADE)

    def remove_empty(self) -> None:
        """Remove the folders made since, deepest first, where nothing was written in them."""
        made = _MADE[self.start :]
        del _MADE[self.start :]
        for folder in sorted(set(made), key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()  # only if empty
            except OSError:
                pass


HOLDER = ".sweep.lock"


@contextmanager
def results_lock(folder: Path, command: str) -> Iterator[None]:
    """Hold ``folder`` for this process while ``command`` runs: a second sweep or retrain on
    the same results would retrain and export into the same files. The lock is the operating
    system's, on the folder itself, so it is released when the command ends, however it ends;
    a note of who holds it (HOLDER) is there meanwhile, for the message of a second one."""
    handle = os.open(folder, os.O_RDONLY)
    note = folder / HOLDER
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = note.read_text(encoding="utf-8").strip() if note.is_file() else "another sweep"
            raise UsageError(
                f"{folder} is in use by {holder}; wait for it to end, or add workers to its study "
                "with `python -m sweep worker --storage URL --study NAME`"
            ) from None
        note.write_text(f"{command} (pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        try:
            yield
        finally:
            note.unlink(missing_ok=True)
    finally:
        os.close(handle)


def atomic_write(path: Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place.

    The temporary name keeps the suffix, because Keras and matplotlib pick the format from it.
    A crash or Ctrl-C leaves the previous ``path`` untouched.
    """
    make_folder(path.parent)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; results are for sharing
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text(path: Path, text: str) -> Path:
    """Atomically write a text file."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any) -> Path:
    """Atomically write pretty-printed JSON."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path, what: str) -> Any:
    """Read a JSON file this tool wrote; a missing file is a UsageError that says what to run."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} not found: {what}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path} is unreadable ({error}); run the command that writes it again") from None


MARKER = "dataset.json"


def claim_results(folder: Path, identity: dict[str, Any]) -> None:
    """Make ``folder`` the results folder of one dataset: the first command that writes there
    records ``identity`` (the dataset and its fingerprint, :func:`sweep.data.registry.fingerprint`);
    a later one with other data is refused before it writes anything."""
    marker = folder / MARKER
    if marker.is_file():
        known = read_json(marker, "")
        if not isinstance(known, dict) or known.get("fingerprint") != identity["fingerprint"]:
            theirs = known.get("source", "?") if isinstance(known, dict) else "?"
            # The same source can hold other images (a file replaced, another version).
            what = "other images from the same source" if theirs == identity["source"] else "other data"
            raise UsageError(
                f"{folder} holds the results of {what} ({theirs}, another fingerprint), not of these: "
                f"pass --results with another folder, or move {folder} away"
            )
        return
    write_json(ensure_writable(folder) / MARKER, identity)


def check_results_root(root: str) -> None:
    """Refuse a results root that is no folder of its own (the file system's root), one that
    links to itself, or a file."""
    try:
        resolved = Path(root).expanduser().resolve()
    except (RuntimeError, OSError) as error:  # a symlink loop: RuntimeError up to Python 3.12
        raise UsageError(f"--results {root}: cannot resolve it ({error}); pass a real folder") from None
    if resolved == Path("/"):
        raise UsageError("--results /: results need a folder of their own; pass e.g. --results results")
    if resolved.exists() and not resolved.is_dir():
        raise UsageError(f"--results {root}: a file, not a folder; pass a folder (it is created if missing)")
