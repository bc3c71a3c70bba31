"""Run a command in a real terminal of a given width (tmux) and read back the screen a user sees."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tmux_screen(args: list[str], columns: int, cwd: Path, timeout: float = 120.0, env: dict | None = None) -> str:
    """`python -m embedproof ARGS` in a detached tmux pane `columns` wide; the whole scrollback once it exits.

    tmux draws what a terminal draws (wrapping, progress bars erased by cursor moves), so a cut cell reads here as it
    reads to a user. Skips when tmux is not installed.
    """
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    socket = f"embedproof-test-{uuid.uuid4().hex[:8]}"
    conf = cwd / f".{socket}.conf"
    conf.write_text("set -g remain-on-exit on\nset -g history-limit 20000\n")
    environment = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES", "TMUX"}}
    environment.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color", **(env or {})})
    command = shlex.join([sys.executable, "-m", "embedproof", *args])
    tmux = ["tmux", "-L", socket, "-f", str(conf)]
    subprocess.run(
        [*tmux, "new-session", "-d", "-x", str(columns), "-y", "50", "-c", str(cwd), command],
        check=True,
        env=environment,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            dead = subprocess.run(
                [*tmux, "list-panes", "-F", "#{pane_dead}"], capture_output=True, text=True, check=True
            ).stdout.strip()
            if dead == "1":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not finish in {timeout:.0f} s")
            time.sleep(0.1)
        screen = subprocess.run(
            [*tmux, "capture-pane", "-p", "-S", "-", "-E", "-"], capture_output=True, text=True, check=True
        ).stdout
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
        conf.unlink(missing_ok=True)
    lines = [line.rstrip() for line in screen.splitlines() if not line.startswith("Pane is dead")]
    return "\n".join(lines).strip("\n")


def table_rows(screen: str, key: int = 0) -> list[list[list[str]]]:
    """The body rows of the tables on a screen, each a list of its cells' lines (a cell that wraps or folds spans
    several screen lines); a new row starts where column `key` has text. Framed tables (a `│` at both edges) and
    tables drawn without an outer frame are both read."""
    blocks: list[list[str]] = []
    for line, before in zip(screen.splitlines(), [""] + screen.splitlines()):
        if "│" in line:
            if "│" not in before:
                blocks.append([])
            blocks[-1].append(line)
    rows: list[list[list[str]]] = []
    for block in blocks:
        framed = all(not line.split("│")[0].strip() for line in block)
        start = len(rows)
        for line in block:
            parts = [part.strip() for part in line.split("│")]
            if framed:
                parts = parts[1:-1]
            if parts[key] or len(rows) == start:
                rows.append([[part] for part in parts])
            else:
                for cell, part in zip(rows[-1], parts):
                    cell.append(part)
    return [[[p for p in cell if p] for cell in row] for row in rows]


def pty_output(args: list[str], columns: int, cwd: Path, env: dict | None = None, timeout: float = 600.0) -> str:
    """Everything `python -m embedproof ARGS` writes to a pseudo-terminal `columns` wide, raw: progress bars that a
    screen capture would show erased are all here, and so is any line a library prints past us."""
    import pty
    import select
    import struct
    import termios
    from fcntl import ioctl

    main, side = pty.openpty()
    ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    environment = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    environment.update({"PYTHONPATH": str(REPO), "TERM": "xterm-256color", **(env or {})})
    process = subprocess.Popen(
        [sys.executable, "-m", "embedproof", *args], stdin=side, stdout=side, stderr=side, cwd=cwd, env=environment
    )
    os.close(side)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # the other side closed: the command finished
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        else:
            process.kill()
            raise AssertionError(f"{args} did not finish in {timeout:.0f} s")
    finally:
        os.close(main)
        process.wait(timeout=30)
    return b"".join(chunks).decode("utf-8", "replace")
