"""Babel extraction method for CountyDesk's Python sources (referenced from ``babel.cfg``).

It yields what Babel's own Python extractor finds (``_()``, ``lazy_gettext()`` and the other
configured keywords) plus the string values of module-level dicts whose name ends in
``_LABELS``, e.g. ``POPULATION_LABELS = {"resident_pop": "计生常住人口"}``. Such labels are
data kept next to their models and only translated where they are shown (``_(value)``),
so no gettext call marks them; without this they would never reach the catalog.

This directory is not a regular package (no ``__init__.py``): the module is imported by
``pybabel`` and by the i18n tests as ``app.translations.extractors`` only.
"""

from __future__ import annotations

import ast
import io
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from babel.messages.extract import extract_python

LABELS_SUFFIX = "_LABELS"


def _label_dicts(tree: ast.Module) -> Iterator[tuple[str, ast.Dict]]:
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if not isinstance(node.value, ast.Dict):
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id.endswith(LABELS_SUFFIX):
                yield target.id, node.value


def extract_labels(source: bytes) -> Iterator[tuple[int, str, str]]:
    """``(lineno, msgid, where)`` for each string value of a module-level ``*_LABELS`` dict."""
    tree = ast.parse(source)
    for name, mapping in _label_dicts(tree):
        for key, value in zip(mapping.keys, mapping.values, strict=True):
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value:
                where = f"{name}[{key.value!r}]" if isinstance(key, ast.Constant) else name
                yield value.lineno, value.value, where


def extract_python_with_labels(
    fileobj: Any,
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Any,
) -> Iterator[tuple[Any, ...]]:
    """Babel extraction method: ``extract_python`` results followed by ``*_LABELS`` values."""
    source = fileobj.read()
    yield from extract_python(io.BytesIO(source), keywords, comment_tags, options)
    for lineno, msgid, where in extract_labels(source):
        yield lineno, None, msgid, [f"label: {where}"]
