"""The documentation: the site builds with `mkdocs build --strict` (no broken link, anchor or nav entry, every
docstring of the API reference parses), and every relative link of the README and the guide points at a file
that exists, at a heading that exists (as GitHub names headings)."""

import ast
import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SETUP_HINT = "the docs extra is not installed in this Python; run `bash scripts/setup.sh test` (or `... docs`)."


def require_mkdocs():
    missing = [name for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
               if _missing(name)]
    if missing:
        pytest.fail(f"{', '.join(missing)} not importable: {SETUP_HINT}", pytrace=False)


def _missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True


def test_site_builds_strict(tmp_path):
    require_mkdocs()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stderr}\n{done.stdout}"
    assert (tmp_path / "site" / "api" / "index.html").is_file()


def public_names() -> list[str]:
    """`stackae.__all__`, read from the source (no jax import)."""
    tree = ast.parse((ROOT / "stackae" / "__init__.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    import stackae

    return list(stackae.__all__)


def test_api_page_documents_every_public_name_by_its_top_level_path():
    directives = re.findall(r"^::: *(\S+)", (DOCS / "api.md").read_text(), re.M)
    assert sorted(directives) == sorted(f"stackae.{name}" for name in public_names()), (
        "docs/api.md must hold one `::: stackae.<name>` per name of stackae.__all__, and no submodule path")


def _without_code(text: str) -> str:
    text = re.sub(r"^(```|~~~).*?^\1", "", text, flags=re.M | re.S)  # fenced blocks
    return re.sub(r"`[^`\n]*`", "", text)  # inline code


def links(path: pathlib.Path) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", _without_code(path.read_text()))


def github_anchors(path: pathlib.Path) -> set[str]:
    """The ids GitHub gives the headings of a Markdown file."""
    anchors, seen = set(), {}
    for line in re.sub(r"^(```|~~~).*?^\1", "", path.read_text(), flags=re.M | re.S).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", m[1]).replace("`", "").replace("*", "")
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")
    return anchors


def broken_links(path: pathlib.Path) -> list[str]:
    broken = []
    for link in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        file = (path.parent / target).resolve() if target else path
        if not file.exists():
            broken.append(f"{link}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in github_anchors(file):
            broken.append(f"{link}: no heading with that anchor in {file.relative_to(ROOT)}")
    return broken


def test_readme_links_point_at_existing_files():
    readme = ROOT / "README.md"
    assert links(readme), "README.md has no relative links to check"
    assert broken_links(readme) == []


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_guide_links_work_on_github_too(page):
    assert broken_links(DOCS / page) == []
