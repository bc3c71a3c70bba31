"""The process's resident memory as the kernel counts it (Linux /proc; None elsewhere)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["resident_mb"]


def resident_mb() -> dict[str, float] | None:
    """Resident MiB of this process, split into anonymous pages (heap) and file-backed pages (mmapped files), with
    their total; None where /proc/self/status is missing."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    fields = {parts[0].rstrip(":"): parts[1] for parts in (line.split() for line in lines) if len(parts) > 1}
    try:
        anon, file = int(fields["RssAnon"]) / 1024, int(fields["RssFile"]) / 1024
    except (KeyError, ValueError):
        return None
    return {"anon": anon, "file": file, "total": anon + file}
