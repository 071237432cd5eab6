"""Every Python block in README.md and docs/GUIDE.md runs as written.

A block that imports a backend (`tensorflow`, `jax`, `torch`) runs where Keras
runs on that backend: `make test` runs this module on each.
"""

from __future__ import annotations

import pathlib
import re

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/GUIDE.md")
BLOCKS = [
    (document, index, code)
    for document in DOCUMENTS
    for index, code in enumerate(
        re.findall(r"```python\n(.*?)```", (ROOT / document).read_text(), flags=re.DOTALL)
    )
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_documents_have_examples(document):
    assert sum(1 for d, _, _ in BLOCKS if d == document) >= 3


@pytest.mark.parametrize(
    ("document", "index", "code"), BLOCKS, ids=[f"{d}-{i}" for d, i, _ in BLOCKS]
)
def test_block_runs(document, index, code, tmp_path, monkeypatch):
    backends = set(re.findall(r"^(?:import|from) (tensorflow|jax|torch)\b", code, flags=re.M))
    if backends - {keras.backend.backend()}:
        pytest.skip(f"an example for the {', '.join(sorted(backends))} backend")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{document} block {index}", "exec"), {"__name__": "docs_example"})
