"""Where embedpick keeps its caches (embeddings, downloaded datasets): $EMBEDPICK_CACHE or ~/.cache/embedpick."""

from __future__ import annotations

import os
from pathlib import Path


def safe_name(name: str) -> str:
    """A model or run name as one file-name component: anything but letters, digits, '-', '_', '.' becomes '_'."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def cache_root(override: str | os.PathLike | None = None) -> Path:
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("EMBEDPICK_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "embedpick"
