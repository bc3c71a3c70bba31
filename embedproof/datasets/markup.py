"""The text a person reads in a Markdown or HTML page, without the markup around it.

Documentation sites write pages in Markdown plus extensions (MkDocs Material, pymdownx, Docusaurus) and HTML.
Read raw, their markup becomes search terms and pseudo-queries: `{ #configure-swagger-ui }`, `{* ../x.py hl[6] *}`,
`!!! note`, `<div class="termy">`. The text-folder loader passes every `.md` and `.html` file through here, so the
corpus, the pseudo-queries drawn from it and the index built from it all see the same plain text.

- Markdown is parsed by markdown-it-py (CommonMark, tables, strikethrough): links keep their text and lose their
  target (inline, reference and autolinks), images keep their alt text, emphasis and escapes resolve, reference
  definitions disappear; inline and block HTML go through the HTML reader below.
- Extensions CommonMark does not know are removed by a thin line pass before parsing (written here because
  markdown-it has no parser for FastAPI's `{* … *}` includes or pymdownx `///` blocks, and its plugins for the
  rest are a separate package covering only part of them): YAML/TOML front matter, attribute lists
  (`{ #anchor }`, `{: .class }`), `{* … *}` includes, `--8<--` snippets, admonitions (`!!! note "Title"`,
  `??? tip`) and content tabs (`=== "Tab"`) whose indented bodies are dedented (left indented they would read as
  code), `///` blocks, and `:::` fences (`::: module.path` autodoc lines go entirely).
- HTML is read with the standard library's `html.parser`: tags go, text stays, `<script>`, `<style>` and the
  `<head>` (bar its `<title>`) go with their content.
- Code (fences, indented blocks, `<pre>`) is kept as text unless `drop_code`: code is what many readers search
  for (a function name, an error), but it also fills a page with tokens no question uses.

A page gives its title (a leading `# heading`, else the front matter's `title:`, else an HTML `<title>`), its
text (one block per paragraph, heading, list item or code block, separated by blank lines) and its headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

__all__ = ["Page", "MARKUP_SUFFIXES", "html_page", "markdown_page", "read_page"]

MARKUP_SUFFIXES = (".md", ".html", ".htm")

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)\n(?:---|\.\.\.|\+\+\+)[ \t]*(?:\n|\Z)", re.S)
_INCLUDE = re.compile(r"\{\*.*?\*\}")  # FastAPI docs: {* ../../docs_src/x.py hl[6,11] *}
_ATTR_LIST = re.compile(r"[ \t]*\{:?[ \t]*[#.][\w:.-][^{}\n]*\}")  # { #anchor }, {#id .class}, {: .class }
_SNIPPET = re.compile(r"^\s*-{1,3}8<-{1,3}")  # pymdownx.snippets: --8<-- "file.md"
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# !!! note "Title", ??? tip, ???+ warning inline end; === "Tab" (a tab's label names a variant, not reader text)
_ADMONITION = re.compile(r"""^(?:!!!|\?\?\?\+?)(?:[ \t]+[\w-]+)+[ \t]*(?:"([^"]*)"|'([^']*)')?[ \t]*$""")
_TAB = re.compile(r"""^===\+?[ \t]+(?:"[^"]*"|'[^']*')[ \t]*$""")
_SLASH_BLOCK = re.compile(r"^/{3,}[ \t]*([\w-]*)[ \t]*(?:\|[ \t]*(.*))?$")  # pymdownx.blocks: /// note | Title
_COLON_FENCE = re.compile(r"^:{3,}[ \t]*\{?([\w.-]*)\}?[ \t]*(?:\[(.*)\])?[ \t]*(.*)$")  # :::tip Title, ::: pkg.mod
_SPACES = re.compile(r"[ \t\f\v\xa0]+")


@dataclass(frozen=True)
class Page:
    title: str
    text: str
    headings: tuple[str, ...] = ()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _front_matter(source: str) -> tuple[str, str]:
    """(front matter's `title:` or "", the source without its front matter)."""
    match = _FRONT_MATTER.match(source.lstrip("\n"))
    if not match:
        return "", source
    title = ""
    if match.group(1) == "---":
        import yaml

        try:
            meta = yaml.safe_load(match.group(2))
        except yaml.YAMLError:
            meta = None
        if isinstance(meta, dict) and isinstance(meta.get("title"), str):
            title = meta["title"].strip()
    return title, source.lstrip("\n")[match.end() :]


def _extensions(source: str) -> str:
    """Remove the documentation-site extensions CommonMark does not know, leaving code fences untouched."""
    out: list[str] = []
    bodies: list[int] = []  # indentation of each open admonition or tab body
    fence = ""
    snippet_block = False
    for raw in source.split("\n"):
        line = raw.expandtabs(4)
        if line.strip() and not fence:
            while bodies and _indent(line) < bodies[-1]:
                bodies.pop()
        line = line[min(_indent(line), 4 * len(bodies)) :] if bodies else line
        if fence:
            out.append(line)
            if line.strip().startswith(fence) and not line.strip().strip(fence[0]):
                fence = ""
            continue
        opened = _FENCE.match(line)
        if opened:
            fence = opened.group(1)
            out.append(line)
            continue
        stripped = line.strip()
        if _SNIPPET.match(line):
            if stripped.strip("-8<") == "":  # the block form: file names between two --8<-- lines
                snippet_block = not snippet_block
            continue
        if snippet_block:
            continue
        admonition = _ADMONITION.match(stripped) or _TAB.match(stripped)
        if admonition:
            bodies.append(_indent(raw.expandtabs(4)) + 4)
            title = next((group for group in admonition.groups() if group), "")
            out.extend(["", title, ""] if title.strip() else [""])
            continue
        block = _SLASH_BLOCK.match(stripped) or _COLON_FENCE.match(stripped)
        if block:
            kind, *rest = block.groups()
            # ::: package.module is an autodoc directive and a tab's label names a variant: neither is reader text
            title = "" if "." in kind or kind == "tab" else " ".join(p.strip() for p in rest if p and p.strip())
            out.extend(["", title, ""] if title else [""])
            continue
        line = _INCLUDE.sub("", line)
        line = _ATTR_LIST.sub("", line)
        out.append(line)
    return "\n".join(out)


class _HtmlText(HTMLParser):
    """Text of an HTML fragment or page: tags dropped, block elements as block breaks, headings collected."""

    _BLOCKS = {
        "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol",
        "p", "pre", "section", "summary", "table", "td", "th", "tr", "ul",
    }  # fmt: skip
    _SKIPPED = {"script", "style", "template", "noscript", "svg"}

    def __init__(self, drop_code: bool):
        super().__init__(convert_charrefs=True)
        self.drop_code = drop_code
        self.blocks: list[str] = []
        self.headings: list[tuple[int, str]] = []
        self.title = ""
        self._current: list[str] = []
        self._skip: list[str] = []
        self._heading: int | None = None
        self._in_title = False
        self._in_head = False
        self._pre = 0

    def _flush(self) -> None:
        text = "".join(self._current)  # <pre> keeps its layout; elsewhere runs of spaces are one space
        text = text.strip("\n") if self._pre else _SPACES.sub(" ", text).strip()
        if text.strip():
            self.blocks.append(text)
            if self._heading is not None:
                self.headings.append((self._heading, " ".join(text.split())))
        self._current = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in self._SKIPPED:
            self._skip.append(tag)
        elif tag == "head":
            self._in_head = True
        elif tag == "title":
            self._in_title = True
        elif tag in self._BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre += 1
            if len(tag) == 2 and tag[0] == "h" and tag[1].isdigit():
                self._heading = int(tag[1])

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in self._BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if self._skip and tag == self._skip[-1]:
            self._skip.pop()
        elif tag == "head":
            self._in_head = False
        elif tag == "title":
            self._in_title = False
        elif tag in self._BLOCKS:
            self._flush()
            if tag == "pre":
                self._pre = max(self._pre - 1, 0)
            self._heading = None

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title = " ".join(f"{self.title} {data}".split())
        elif self._in_head:
            return
        elif not (self._pre and self.drop_code):
            self._current.append(data if self._pre else data.replace("\n", " "))

    def close(self) -> None:
        super().close()
        self._flush()


def _html(fragment: str, drop_code: bool) -> _HtmlText:
    parser = _HtmlText(drop_code)
    parser.feed(fragment)
    parser.close()
    return parser


def html_page(source: str, drop_code: bool = False) -> Page:
    """The title (`<title>`, else a leading `<h1>`), text and headings of an HTML page."""
    parsed = _html(source, drop_code)
    blocks, headings = parsed.blocks, [text for _, text in parsed.headings]
    title = parsed.title
    if not title and parsed.headings and parsed.headings[0][0] == 1 and blocks and blocks[0] == headings[0]:
        title, blocks, headings = headings[0], blocks[1:], headings[1:]
    return Page(title, "\n\n".join(blocks), tuple(headings))


def _inline_text(token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "image":
            parts.append(_inline_text(child))
        elif child.type == "softbreak":  # the source's line wrapping, not the reader's
            parts.append(" ")
        elif child.type == "hardbreak":
            parts.append("\n")
    return "".join(parts)


def markdown_page(source: str, drop_code: bool = False) -> Page:
    """The title, text and headings of a Markdown page (rules in the module docstring)."""
    from markdown_it import MarkdownIt

    meta_title, body = _front_matter(source)
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    blocks: list[str] = []
    headings: list[tuple[int, str]] = []
    heading: int | None = None
    row: list[str] | None = None
    for token in parser.parse(_extensions(body)):
        if token.type == "heading_open":
            heading = int(token.tag[1])
        elif token.type == "heading_close":
            heading = None
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close":
            if row and any(cell.strip() for cell in row):
                blocks.append(" ".join(cell for cell in row if cell.strip()))
            row = None
        elif token.type == "inline":
            text = "\n".join(_SPACES.sub(" ", line).strip() for line in _inline_text(token).split("\n"))
            text = text.strip()
            if row is not None:
                row.append(" ".join(text.split()))
            elif text:
                blocks.append(text)
                if heading is not None:
                    headings.append((heading, " ".join(text.split())))
        elif token.type in ("fence", "code_block"):
            if not drop_code and token.content.strip():
                blocks.append(token.content.strip("\n"))
        elif token.type == "html_block":
            parsed = _html(token.content, drop_code)
            blocks.extend(parsed.blocks)
            headings.extend(parsed.headings)
    title = meta_title
    if headings and headings[0][0] == 1 and blocks and blocks[0] == headings[0][1]:
        title, blocks, headings = headings[0][1], blocks[1:], headings[1:]
    return Page(title, "\n\n".join(blocks), tuple(text for _, text in headings))


def read_page(text: str, suffix: str, drop_code: bool = False) -> Page:
    """A page from a file's text by its suffix: Markdown or HTML stripped, anything else kept as it is."""
    suffix = suffix.lower()
    if suffix == ".md":
        return markdown_page(text, drop_code)
    if suffix in (".html", ".htm"):
        return html_page(text, drop_code)
    return Page("", text)
