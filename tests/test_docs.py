"""The docs check: every command and example in README.md and docs/*.md parses, runs, or says why it cannot.

The convention (docs/testing.md, "The docs check"): an HTML comment on the line before a fenced block says what
to do with it.

- no comment: every `embedproof` command line is parsed by the real CLI (its click command tree) without running;
- `<!-- docs-check: run -->`: every `embedproof` command runs in a fresh temporary folder with its own
  `EMBEDPROOF_CACHE` and must exit 0 (or the code a following `$ echo $?` shows); a `python` block is executed;
  `slow` marks it slow, `group=NAME` runs the blocks of one file with that name in order in one folder;
- `<!-- docs-check: parse-only (REASON) -->`: parsed, with the reason it cannot run here;
- `<!-- docs-check: synopsis -->`: a usage line with placeholders: the command path and option names are checked.

Every other shell line only has the repository paths it names checked; python blocks are compiled and their
`embedproof` imports resolved; json and yaml blocks must parse; relative links and `embedproof/...` paths must exist.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Python examples in these files import from the package root only (the public API).
ROOT_IMPORTS_ONLY = {"README.md", "docs/python-api.md"}
# Top-level folders of the repository that a path in a command or in inline code may name.
REPO_DIRS = ("benchmarks", "docs", "tests", "deploy", "skills", "embedproof", ".ci")
SHELL_LANGS = {"bash", "sh", "shell", "console", "zsh", "", "text"}
MARKER = re.compile(r"^\s*<!--\s*docs-check:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})(?P<lang>[\w+-]*)\s*$")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@dataclass
class Command:
    """One shell command of a block: its words after any `VAR=value` assignments."""

    words: list[str]
    env: dict[str, str]
    line: int
    expect: int = 0

    @property
    def cli_args(self) -> list[str] | None:
        """The arguments after the program when the program is embedproof, else None."""
        w = self.words
        if w and (w[0] == "embedproof" or w[0].endswith("/embedproof")):
            return w[1:]
        if len(w) >= 3 and re.fullmatch(r"(?:\S*/)?python(?:3(?:\.\d+)?)?", w[0]) and w[1:3] == ["-m", "embedproof"]:
            return w[3:]
        return None

    def __str__(self) -> str:
        return shlex.join(self.words)


@dataclass
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    marker: str | None
    mode: str = "parse"
    slow: bool = False
    group: str | None = None
    commands: list[Command] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{rel(self.path)}:{self.line}"


def parse_marker(block: Block) -> None:
    if block.marker is None:
        return
    text = re.sub(r"\(.*\)", "", block.marker).split()
    assert text and text[0] in ("run", "parse-only", "synopsis"), (
        f"{block.id}: unknown docs-check marker {block.marker!r}"
    )
    block.mode = {"run": "run", "parse-only": "parse", "synopsis": "synopsis"}[text[0]]
    if text[0] == "parse-only":
        assert "(" in block.marker, f"{block.id}: parse-only needs its reason in parentheses"
    for word in text[1:]:
        if word == "slow":
            block.slow = True
        elif word.startswith("group="):
            block.group = word.removeprefix("group=")
        else:
            raise AssertionError(f"{block.id}: unknown word {word!r} in docs-check marker {block.marker!r}")
    assert block.mode == "run" or not (block.slow or block.group), f"{block.id}: slow/group only apply to run blocks"


def split_shell(line: str) -> list[list[str]]:
    """Words of each simple command of a line, split at `&&`, `||`, `;` and `|`; comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    segments: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";&|"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [s for s in segments if s]


def shell_commands(block: Block) -> list[Command]:
    """The commands of a shell block; in a console block (any `$ ` line) only `$ ` lines, with `$ echo $?` codes."""
    lines = block.text.split("\n")
    if block.mode == "synopsis":  # usage lines: indented lines continue the previous one; `|` is an alternative
        text = re.sub(r"\\?\n[ \t]+", " ", block.text)
        return [
            Command(shlex.split(line, comments=True), {}, block.line + 1) for line in text.split("\n") if line.strip()
        ]
    console = block.lang in ("console", "", "text") or any(line.startswith("$ ") for line in lines)
    logical: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line, number = lines[i], block.line + 1 + i
        if console and not line.startswith("$ "):
            logical.append((number, None))  # output
            i += 1
            continue
        text = line[2:] if line.startswith("$ ") else line
        while text.endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text[:-1] + " " + lines[i].strip()
        logical.append((number, text))
        i += 1
    commands: list[Command] = []
    for index, (number, text) in enumerate(logical):
        if text is None or not text.strip() or text.lstrip().startswith("#"):
            continue
        for words in split_shell(text):
            env = {}
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                key, _, value = words.pop(0).partition("=")
                env[key] = value
            if words == ["echo", "$?"]:
                following = next(
                    (lines[n - block.line - 1] for n, t in logical[index + 1 : index + 2] if t is None), ""
                )
                assert commands and following.strip().isdigit(), f"{block.id}: `echo $?` needs a command and a code"
                commands[-1].expect = int(following.strip())
                continue
            if words:
                commands.append(Command(words, env, number))
    return commands


def extract_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence, lang = match["indent"], match["fence"], match["lang"].lower()
        start, body = i, []
        i += 1
        while i < len(lines) and not re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", lines[i]):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        assert i < len(lines), f"{rel(path)}:{start + 1}: unclosed code fence"
        previous = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
        marker = MARKER.match(previous)
        block = Block(path, start + 1, lang, "\n".join(body), marker[1] if marker else None)
        parse_marker(block)
        if lang in SHELL_LANGS:
            block.commands = shell_commands(block)
        blocks.append(block)
        i += 1
    return blocks


BLOCKS = [block for path in DOC_FILES for block in extract_blocks(path)]
SHELL_BLOCKS = [b for b in BLOCKS if b.commands]
CLI_BLOCKS = [b for b in SHELL_BLOCKS if any(c.cli_args is not None for c in b.commands)]
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang in ("python", "py")]


def test_the_docs_have_commands_and_markers():
    """Guards the extraction itself: the docs do show commands, and some are run."""
    assert len(CLI_BLOCKS) >= 20 and sum(b.mode == "run" for b in BLOCKS) >= 8
    for block in BLOCKS:
        if block.mode != "parse" or block.marker:
            assert block.lang in SHELL_LANGS | {"python", "py"}, f"{block.id}: a marker on a {block.lang} block"
    # a marker comment that is not directly above a fence would silently do nothing
    for path in DOC_FILES:
        lines = path.read_text(encoding="utf-8").split("\n")
        for n, line in enumerate(lines):
            if MARKER.match(line):
                following = next((x for x in lines[n + 1 :] if x.strip()), "")
                assert FENCE.match(following), f"{rel(path)}:{n + 1}: docs-check marker not followed by a code block"


# --- parsing against the real CLI ---------------------------------------------------------------------------


def is_group(command) -> bool:
    return isinstance(getattr(command, "commands", None), dict)


def loosen(command) -> None:
    """Parse-only: a documented input file need not exist here, and nothing may be opened or written.

    Each parameter gets its own copy of the path settings, so the app other tests use is left as it is.
    """
    for param in command.params:
        desc = getattr(param, "type_descriptor", None)  # typer >= 0.2x parameters
        info = getattr(desc, "parameter_info", None)
        if info is not None:
            info = copy.copy(info)
            for check in ("exists", "readable", "writable"):
                if hasattr(info, check):
                    setattr(info, check, False)
            param.type_descriptor = dataclasses.replace(desc, parameter_info=info, file_annotation=None)
            param._runtime_param = None
        elif hasattr(param, "type") and type(param.type).__name__ == "Path":  # click's own parameters
            param.type = copy.copy(param.type)
            param.type.exists = False
    for sub in getattr(command, "commands", {}).values():
        loosen(sub)


@pytest.fixture(scope="module")
def cli():
    import typer

    from embedproof.cli import app

    app = getattr(app, "app", app)  # `embedproof.cli.app` is the module holding the Typer app, or the app itself
    root = typer.main.get_command(app)
    loosen(root)
    return root


class ParseError(Exception):
    pass


def resolve(cli, args: list[str], synopsis: bool = False):
    """Parse `args` down the command tree as the CLI would; returns the leaf command or raises ParseError."""
    command, ctx, name, rest = cli, None, "embedproof", list(args)
    try:
        while is_group(command):
            if synopsis:
                if not rest or rest[0] not in command.commands:
                    raise ParseError(f"no command {rest[:1]} under {name!r}")
                name, command, rest = rest[0], command.commands[rest[0]], rest[1:]
                continue
            ctx = command.make_context(name, rest, parent=ctx, resilient_parsing=False)
            protected = getattr(ctx, "_protected_args", None)
            remaining = [*(protected if protected is not None else ctx.protected_args), *ctx.args]
            name, command, rest = command.resolve_command(ctx, remaining)
        if synopsis:
            known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
            unknown = [w.strip("[]|.").split("=")[0] for w in rest if w.strip("[]|.").startswith("-")]
            unknown = [option for option in unknown if option not in known]
            if unknown:
                raise ParseError(f"no such option(s) {unknown} for {name!r}")
            return command
        command.make_context(name, rest, parent=ctx, resilient_parsing=False)
        return command
    except ParseError:
        raise
    except Exception as error:  # click's (or typer's vendored click's) usage errors and --help's exit
        if type(error).__name__ == "Exit" and getattr(error, "exit_code", 1) == 0:
            return command
        if hasattr(error, "format_message"):
            raise ParseError(error.format_message()) from error
        raise


@pytest.mark.parametrize("block", CLI_BLOCKS, ids=lambda b: b.id)
def test_embedproof_commands_parse(block, cli):
    for command in block.commands:
        if command.cli_args is None:
            continue
        try:
            resolve(cli, command.cli_args, synopsis=block.mode == "synopsis")
        except ParseError as error:
            pytest.fail(f"{block.id} line {command.line}: `{command}` does not parse: {error}")


# --- repository paths, links, inline code ---------------------------------------------------------------------

REPO_PATH = re.compile(rf"^(?:\./)?((?:{'|'.join(re.escape(d) for d in REPO_DIRS)})/[^\s'\"`)\]]*)")


def repo_path_problem(text: str) -> str | None:
    """Why a path-looking word (`benchmarks/x.py`, `tests/a.py::test_b`) does not name a repository file, or None."""
    match = REPO_PATH.match(text)
    if not match:
        return None
    path, _, test = match[1].rstrip(".,:;").partition("::")
    if any(ch in path for ch in "*<>") or path.endswith("NNNNN.npy"):
        return None  # a pattern, not a file
    target = ROOT / path
    if not target.exists():
        return f"{path} does not exist"
    if test and not re.search(rf"^\s*(?:async\s+)?def {re.escape(test.split('[')[0])}\(", target.read_text(), re.M):
        return f"{path} has no test {test}"
    return None


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=lambda b: b.id)
def test_paths_named_by_shell_lines_exist(block):
    for command in block.commands:
        for word in command.words:
            for part in word.split("="):
                problem = repo_path_problem(part)
                assert problem is None, f"{block.id} line {command.line}: `{command}`: {problem}"


def without_code_blocks(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return re.sub(r"^([ \t]*)(`{3,}|~{3,}).*?^\1\2[ \t]*$", "", text, flags=re.S | re.M)


def heading_anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.*?)\s*$", without_code_blocks(path), flags=re.M):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").replace("*", "").lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        candidate, n = slug, 0
        while candidate in anchors:
            n += 1
            candidate = f"{slug}-{n}"
        anchors.add(candidate)
    return anchors


@pytest.mark.parametrize("path", DOC_FILES, ids=rel)
def test_relative_links_resolve(path):
    problems = []
    for target in re.findall(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", without_code_blocks(path)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http:, https:, mailto:
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            problems.append(f"link to {target} points to no file")
        elif anchor and resolved.suffix == ".md" and anchor not in heading_anchors(resolved):
            problems.append(f"link to {target}: no such heading")
    assert not problems, f"{rel(path)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("path", DOC_FILES, ids=rel)
def test_paths_and_modules_in_inline_code_exist(path):
    problems = []
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", without_code_blocks(path)):
        span = span.strip()
        problem = repo_path_problem(span) if " " not in span else None
        if problem:
            problems.append(f"`{span}`: {problem}")
        if re.fullmatch(r"embedproof(\.[A-Za-z_]\w*)+", span) and not resolve_dotted(span):
            problems.append(f"`{span}` names no module or attribute")
    assert not problems, f"{rel(path)}:\n" + "\n".join(problems)


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def resolve_dotted(name: str) -> bool:
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


# --- python, json and yaml blocks -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=lambda b: b.id)
def test_python_blocks_compile_and_their_imports_resolve(block):
    tree = compile(block.text, block.id, "exec", flags=ast.PyCF_ONLY_AST)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "embedproof":
            if rel(block.path) in ROOT_IMPORTS_ONLY:
                assert node.module == "embedproof", f"{block.id}: imports from {node.module}, not the package root"
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or is_module(f"{node.module}.{alias.name}"), (
                    f"{block.id}: {node.module} has no {alias.name}"
                )
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "embedproof":
                    importlib.import_module(alias.name)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.lang in ("json", "yaml", "yml")], ids=lambda b: b.id)
def test_json_and_yaml_blocks_parse(block):
    if block.lang == "json":
        json.loads(block.text)
    else:
        import yaml

        yaml.safe_load(block.text)


def test_the_readme_is_short_and_links_every_doc():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 260
    for path in DOC_FILES[1:]:
        assert f"(docs/{path.name})" in readme, f"README.md does not link {rel(path)}"


# --- running ----------------------------------------------------------------------------------------------------


def run_groups() -> list:
    groups: dict[str, list[Block]] = {}
    for block in BLOCKS:
        if block.mode == "run":
            key = f"{rel(block.path)}:{block.group}" if block.group else block.id
            groups.setdefault(key, []).append(block)
    return [
        pytest.param(blocks, id=key, marks=[pytest.mark.slow] if any(b.slow for b in blocks) else [])
        for key, blocks in groups.items()
    ]


@pytest.fixture(scope="session")
def docs_cache(tmp_path_factory):
    """One embedding cache for every run block: the demo's vectors are encoded once."""
    return tmp_path_factory.mktemp("docs-cache")


@pytest.mark.parametrize("blocks", run_groups())
def test_run_blocks(blocks, tmp_path, docs_cache):
    for name in ("benchmarks", "docs", "deploy", "skills"):
        if name == "docs":
            shutil.copytree(ROOT / name, tmp_path / name)  # a corpus: real files, no link out of the folder
        elif (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "EMBEDPROOF_CACHE": str(docs_cache), "COLUMNS": "120"}
    env.pop("EMBEDPROOF_API_KEY", None)
    for block in blocks:
        if block.lang in ("python", "py"):
            script = tmp_path / f"block_{block.line}.py"
            script.write_text(textwrap.dedent(block.text), encoding="utf-8")
            done = subprocess.run(
                [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, f"{block.id}: the example fails:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            continue
        for command in block.commands:
            args = command.cli_args
            if args is None or args[:1] == ["serve"]:
                continue  # other programs are not run; serve blocks until stopped
            done = subprocess.run(
                [sys.executable, "-m", "embedproof", *args],
                cwd=tmp_path,
                env={**env, **command.env, "EMBEDPROOF_CACHE": str(docs_cache)},
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == command.expect, (
                f"{block.id} line {command.line}: `{command}` exited {done.returncode}, "
                f"the doc expects {command.expect}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
            )
