"""``json.loads`` for files lexforge reads: nesting deeper than Python's parser takes (a
``RecursionError``, untyped, from a damaged or hostile file: ``[[[[...``) is raised as the
``json.JSONDecodeError`` every reader already turns into its own typed error."""

from __future__ import annotations

import json
from typing import Any


def loads_json(text: str | bytes, **options: Any) -> Any:
    """Parses JSON ``text`` as ``json.loads(text, **options)`` does (see the module's
    note)."""
    try:
        return json.loads(text, **options)
    except RecursionError:
        doc = text if isinstance(text, str) else ""
        raise json.JSONDecodeError(
            "arrays or objects nested too deeply for Python's JSON parser (a damaged file?)",
            doc,
            0,
        ) from None
