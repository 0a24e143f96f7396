"""The SPDX license list's texts, shipped offline as package data (``licenses/data/spdx-licenses.json.gz``).

Source: the npm package ``spdx-license-list`` (sindresorhus/spdx-license-list, CC0-1.0), whose
``spdx-full.json`` holds the canonical text of every license on the SPDX list (6.12.0: 727 licenses). Get it
with ``npm pack spdx-license-list && tar xzf spdx-license-list-*.tgz`` and rebuild the shipped file with::

    python -m stackcurate.licenses.spdx_data package/spdx-full.json

Ids whose texts are identical (``GPL-3.0-only``/``-or-later``, ``MPL-2.0``/``-no-copyleft-exception``,
deprecated ids) share one entry: the text cannot tell them apart, so one *canonical* id stands for the group
and the others are kept as ``same_text`` so that a benchmark can say which ids a text could have been.
"""

from __future__ import annotations

import gzip
import json
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA_FILE = "spdx-licenses.json.gz"


def _canonical(ids: list[str]) -> str:
    """The id that stands for identical texts: an ``-only`` id first (the narrower grant), then without ``+``,
    then the shortest (deprecated ids such as ``GPL-2.0`` or ``StandardML-NJ`` are longer or bare)."""
    deprecated_bare = {i for i in ids if any(o.startswith(i + "-") for o in ids)}
    return sorted(ids, key=lambda i: (not i.endswith("-only"), "+" in i, i in deprecated_bare, len(i), i))[0]


def build(spdx_full: dict[str, Any], version: str) -> dict[str, Any]:
    """``spdx-full.json`` content -> the shipped structure: ``source``, ``licenses`` {canonical id: text},
    ``same_text`` {canonical id: [other ids with the identical text]}."""
    groups: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    for spdx_id, entry in sorted(spdx_full.items()):
        text = str(entry.get("licenseText") or "")
        if not text.strip():
            continue
        key = " ".join(text.lower().split())
        groups.setdefault(key, []).append(spdx_id)
        texts[spdx_id] = text
    licenses: dict[str, str] = {}
    same_text: dict[str, list[str]] = {}
    for ids in groups.values():
        canonical = _canonical(ids)
        licenses[canonical] = texts[canonical]
        if len(ids) > 1:
            same_text[canonical] = sorted(i for i in ids if i != canonical)
    return {"source": f"npm spdx-license-list {version}", "licenses": licenses, "same_text": same_text}


@lru_cache(maxsize=1)
def load_spdx_texts() -> dict[str, Any]:
    """The shipped structure (see ``build``); read once per process."""
    raw = resources.files("stackcurate.licenses").joinpath("data", DATA_FILE).read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


def main(argv: list[str]) -> int:
    source = Path(argv[0])
    package = source.parent / "package.json"
    version = json.loads(package.read_text())["version"] if package.exists() else "unknown"
    data = build(json.loads(source.read_text()), version)
    target = Path(__file__).parent / "data" / DATA_FILE
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    target.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(f"{target}: {len(data['licenses'])} texts ({data['source']}), {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
