"""The files of a run: its output folder, JSON written atomically (strict: no NaN), text, and a
run directory that appears whole or not at all (``staged_dir``)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

__all__ = ["outdir", "read_json", "write_json", "write_text", "staged_dir"]


def outdir(path: str | os.PathLike) -> Path:
    """``path`` as a Path, created (with its parents) if missing."""
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def write_json(path: Path, obj: Any) -> None:
    """``obj`` as indented JSON at ``path``, replacing it atomically (a reader never sees half a
    file, so a report rewritten after every seed is always whole). NaN and infinities are errors."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; a broken file raises ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON: {exc}") from None


def write_text(path: Path, text: str) -> None:
    """``text`` at ``path`` (UTF-8), replaced atomically like ``write_json``."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike) -> Iterator[Path]:
    """A run directory written whole or not at all: yields an empty temporary sibling of ``path``
    (``.NAME.partial-PID``); when the block ends without an exception it is renamed to ``path``
    (an existing ``path`` is replaced only then, and removed); after an exception it is deleted
    and ``path`` is left as it was. The parent folder is created if missing."""
    final = Path(path).resolve()
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.partial-{os.getpid()}")
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if final.exists():
            os.replace(final, old)  # a rename: ``path`` is missing only between two renames
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
