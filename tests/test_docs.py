"""The documentation site: every public name has its entry in the API reference."""

import re
from pathlib import Path

import fastapi_cognito_jwt
import fastapi_cognito_jwt.testing

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_public_name_is_in_the_api_reference() -> None:
    text = (DOCS / "reference.md").read_text()
    documented = re.findall(r"^::: fastapi_cognito_jwt\.([\w.]+)$", text, re.MULTILINE)
    expected = [name for name in fastapi_cognito_jwt.__all__ if name != "__version__"]
    expected += [f"testing.{name}" for name in fastapi_cognito_jwt.testing.__all__]
    assert sorted(documented) == sorted(expected)
    assert "__version__" in text


def test_every_page_is_in_the_nav() -> None:
    nav = (DOCS.parent / "mkdocs.yml").read_text()
    pages = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert pages == set(re.findall(r"^\s+- [^:]+: (\S+\.md)$", nav, re.MULTILINE))
