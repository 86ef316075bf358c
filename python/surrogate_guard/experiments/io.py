"""The files of a run: its output folder, JSON written atomically (strict: no NaN), and text."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["outdir", "read_json", "write_json", "write_text"]


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
