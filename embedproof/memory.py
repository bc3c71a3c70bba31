"""The process's resident memory, as the kernel counts it (Linux /proc; None elsewhere)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["resident_mb"]


def resident_mb() -> float | None:
    """Resident MiB of this process (anonymous + file-backed pages), or None where /proc/self/status is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
