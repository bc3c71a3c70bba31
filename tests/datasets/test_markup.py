"""Markdown and HTML pages read as a person reads them: every kind of markup the loader removes, and what it keeps."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from embedproof.datasets.loading import load_dataset
from embedproof.datasets.markup import html_page, markdown_page
from embedproof.errors import DatasetError

PAGE = """---
title: From the front matter
tags: [api, docs]
---

# Configure Swagger UI { #configure-swagger-ui }

You can set *extra* [Swagger UI parameters](https://swagger.io/docs/ "title"), see the [guide][g]
and ![the form](img/form.png).

[g]: https://example.com/guide

{* ../../docs_src/configure_swagger_ui/tutorial001.py hl[3] *}

--8<-- "includes/warning.md"

--8<--
a.md
b.md
--8<--

!!! note "Technical Details"
    The parameters are passed as JSON.

    ```python
    app = FastAPI(swagger_ui_parameters={"syntaxHighlight": False})
    ```

??? tip
    Collapsed tip text.

/// warning | Careful
Block body text.
///

//// tab | Python 3.10+
Tab body text.
////

=== "Linux"
    Tabbed body text.

:::info Docusaurus title
Fenced body text.
:::

::: fastapi.applications.FastAPI

## Disable syntax highlighting {#disable}

<div class="termy">

```console
$ fastapi run main.py
```

</div>

<p align="center"><b>Bold</b> words &amp; an <a href="x">anchor</a>.</p>
<!-- a comment -->
"""


def test_markdown_keeps_the_words_and_drops_every_kind_of_markup():
    page = markdown_page(PAGE)
    assert page.title == "Configure Swagger UI"
    assert page.headings == ("Disable syntax highlighting",)
    assert page.text.split("\n\n") == [
        "You can set extra Swagger UI parameters, see the guide and the form.",
        "Technical Details",
        "The parameters are passed as JSON.",
        'app = FastAPI(swagger_ui_parameters={"syntaxHighlight": False})',
        "Collapsed tip text.",
        "Careful",
        "Block body text.",
        "Tab body text.",
        "Tabbed body text.",
        "Docusaurus title",
        "Fenced body text.",
        "Disable syntax highlighting",
        "$ fastapi run main.py",
        "Bold words & an anchor.",
    ]


def test_drop_code_leaves_out_fences_indented_code_and_pre():
    text = markdown_page(PAGE, drop_code=True).text
    assert "FastAPI(" not in text and "fastapi run" not in text and "Fenced body text." in text
    assert markdown_page("Text.\n\n    indented = code\n", drop_code=True).text == "Text."
    assert html_page("<p>Run it:</p><pre>make all</pre>", drop_code=True).text == "Run it:"


def test_front_matter_title_when_there_is_no_heading_and_setext_headings():
    page = markdown_page("---\ntitle: Notes\n---\nSome text.\n\nSection two\n-----------\n\nMore text.\n")
    assert page.title == "Notes" and page.headings == ("Section two",)
    assert page.text == "Some text.\n\nSection two\n\nMore text."
    assert markdown_page("---\n: not yaml [\n---\nBody.").text == "Body."  # bad YAML: no title, still removed
    assert markdown_page("Text = and ===\n\nA line.").text == "Text = and ===\n\nA line."  # not a tab marker


def test_html_pages():
    page = html_page(
        "<html><head><title>The title</title><style>p{}</style><script>var x = 1;</script></head>"
        "<body><nav><a href='/'>Home</a></nav><h1>First</h1><p>One <em>two</em>\nthree.</p>"
        "<h2>Second</h2><ul><li>item a</li><li>item b</li></ul></body></html>"
    )
    assert page.title == "The title" and page.headings == ("First", "Second")
    assert page.text == "Home\n\nFirst\n\nOne two three.\n\nSecond\n\nitem a\n\nitem b"
    untitled = html_page("<h1>Heading</h1><p>Body.</p>")
    assert untitled.title == "Heading" and untitled.text == "Body." and untitled.headings == ()


def test_the_folder_loader_strips_md_and_html_and_keeps_txt(tmp_path: Path):
    (tmp_path / "page.md").write_text(PAGE)
    (tmp_path / "site.html").write_text("<title>Site</title><p>Hello <b>web</b>.</p>")
    (tmp_path / "plain.txt").write_text("Keeps {* markup *} as typed.")
    (tmp_path / "only-markup.md").write_text("---\n---\n")
    data = load_dataset(tmp_path)
    assert data.corpus["page"].title == "Configure Swagger UI"
    assert data.corpus["page"].headings == ("Disable syntax highlighting",)
    assert data.corpus["site"].title == "Site" and data.corpus["site"].text == "Hello web."
    assert data.corpus["plain"].text == "Keeps {* markup *} as typed."
    assert data.corpus["only-markup"].text == "---\n---\n"  # all markup: its raw text, never a lost file
    assert "FastAPI(" not in load_dataset(tmp_path, drop_code=True).corpus["page"].text
    with pytest.raises(DatasetError, match=r"code blocks can only be dropped \(--drop-code\)"):
        load_dataset("demo", drop_code=True)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab #*{}[]()!<>/-:=`|~+?\n \t\"'.8")), max_size=200) | st.text())
def test_any_text_reads_as_a_page_without_an_exception(text):
    for page in (markdown_page(text), markdown_page(text, drop_code=True), html_page(text)):
        assert isinstance(page.text, str) and isinstance(page.title, str)
        assert all(heading and heading == " ".join(heading.split()) for heading in page.headings)


def test_results_record_whether_code_blocks_were_dropped(tmp_path):
    from embedproof.datasets.loading import load_dataset
    from embedproof.datasets.pseudo import inverse_cloze

    (tmp_path / "page.md").write_text("# Run\n\nRun the build first. Then test it.\n\n```\nmake all\n```\n")
    assert load_dataset(tmp_path).summary()["drop_code"] is False
    dropped = load_dataset(tmp_path, drop_code=True)
    assert dropped.summary()["drop_code"] is True
    assert inverse_cloze(dropped, n_queries=1).summary()["drop_code"] is True
