"""The SPDX license list's texts, shipped offline as package data (``licenses/data/spdx-licenses.json.gz``).

Source: the npm package ``spdx-license-list`` (sindresorhus/spdx-license-list, CC0-1.0), whose
``spdx-full.json`` holds the canonical text of every license on the SPDX list (6.12.0: 727 licenses). Get it
with ``npm pack spdx-license-list && tar xzf spdx-license-list-*.tgz`` and rebuild the shipped file with::

    python -m stackcurate.licenses.spdx_data package/spdx-full.json

The exceptions of the SPDX list (``WITH`` operands: additional permissions such as ``LLVM-exception`` or
``GCC-exception-3.1``) ship as ``licenses/data/spdx-exceptions.json.gz``. Their ids come from the npm package
``spdx-exceptions`` (``index.json`` and ``deprecated.json``); their texts from ScanCode's license database
(PyPI ``scancode-toolkit``, ``licensedcode/data/licenses/*.LICENSE``, CC-BY-4.0, nexB Inc. and others): the
entry whose ``spdx_license_key`` (or ``other_spdx_license_keys``) is the id and that ``is_exception``. Rebuild
with::

    python -m stackcurate.licenses.spdx_data --exceptions package/index.json SCANCODE_LICENSES_DIR

A license file that holds nothing but a URL (NuGet's ``licenseUrl``, a README's link written into
``LICENSE``) is read through ``licenses/data/license-urls.json.gz``: every rule of ScanCode's rule database
(``licensedcode/data/rules/*.RULE`` of the same PyPI package, CC-BY-4.0) whose whole text is one URL, with its
license expression in SPDX ids (each ScanCode key through its license's ``spdx_license_key``). A URL two rules
give different licenses is left out. Rebuild with::

    python -m stackcurate.licenses.spdx_data --urls SCANCODE_DATA_DIR   # licensedcode/data

Ids whose texts are identical (``GPL-3.0-only``/``-or-later``, ``MPL-2.0``/``-no-copyleft-exception``,
deprecated ids) share one entry: the text cannot tell them apart, so one *canonical* id stands for the group
and the others are kept as ``same_text`` so that a benchmark can say which ids a text could have been.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

DATA_FILE = "spdx-licenses.json.gz"
EXCEPTIONS_FILE = "spdx-exceptions.json.gz"
URLS_FILE = "license-urls.json.gz"
SCANCODE_ENTRY = re.compile(r"\A---\n(.*?)\n---\n(.*)\Z", re.DOTALL)


def _canonical(ids: list[str]) -> str:
    """The id that stands for identical texts: an ``-only`` id first (the narrower grant), then without ``+``,
    then the shortest (deprecated ids such as ``GPL-2.0`` or ``StandardML-NJ`` are longer or bare). A bare id
    is deprecated only beside its own ``-only``/``-or-later`` form: ``MPL-2.0`` stands for its text, not
    ``MPL-2.0-no-copyleft-exception`` (the same words; the exception is Exhibit B's notice, absent from both),
    and ``OFL-1.1`` not ``OFL-1.1-RFN``."""
    deprecated_bare = {i for i in ids if f"{i}-only" in ids or f"{i}-or-later" in ids}
    return sorted(ids, key=lambda i: (not i.endswith("-only"), "+" in i, i in deprecated_bare, len(i), i))[0]


def build(spdx_full: dict[str, Any], version: str) -> dict[str, Any]:
    """``spdx-full.json`` content -> the shipped structure: ``source``, ``licenses`` {canonical id: text},
    ``same_text`` {canonical id: [other ids with the identical text]},
    ``names`` {id: the list's full name}."""
    groups: dict[str, list[str]] = {}
    texts: dict[str, str] = {}
    names = {i: str(e.get("name") or "") for i, e in sorted(spdx_full.items()) if e.get("name")}
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
    return {
        "source": f"npm spdx-license-list {version}",
        "licenses": licenses,
        "same_text": same_text,
        "names": names,
    }


def build_exceptions(index_json: Path, scancode_licenses: Path) -> dict[str, Any]:
    """The shipped exceptions: ``source``, ``exceptions`` {SPDX exception id: text}, ``missing`` [ids with no
    text found]. ``index_json``: the npm ``spdx-exceptions`` list (``deprecated.json`` beside it is added)."""
    ids = list(json.loads(index_json.read_text()))
    deprecated = index_json.parent / "deprecated.json"
    if deprecated.exists():
        ids += [i for i in json.loads(deprecated.read_text()) if i not in ids]
    version = json.loads((index_json.parent / "package.json").read_text()).get("version", "unknown")
    texts: dict[str, str] = {}
    for entry in sorted(scancode_licenses.glob("*.LICENSE")):
        parsed = SCANCODE_ENTRY.match(entry.read_text(encoding="utf-8", errors="replace"))
        if not parsed or not re.search(r"^is_exception:\s*yes\s*$", parsed.group(1), re.MULTILINE):
            continue
        meta = parsed.group(1)
        keys = re.findall(r"^spdx_license_key:\s*(\S+)", meta, re.MULTILINE)
        if "other_spdx_license_keys:" in meta:
            block = meta.split("other_spdx_license_keys:", 1)[1]
            keys += re.findall(r"^\s+-\s*(\S+)", block.split("\n", 1)[1].split("\n\\S", 1)[0], re.MULTILINE)
        for key in keys:
            if key in ids and parsed.group(2).strip():
                texts.setdefault(key, parsed.group(2).strip() + "\n")
    return {
        "source": f"npm spdx-exceptions {version} ids; texts from ScanCode licensedb (CC-BY-4.0)",
        "exceptions": dict(sorted(texts.items())),
        "missing": sorted(i for i in ids if i not in texts),
    }


def url_key(url: str) -> str:
    """The form a URL is looked up by: lower case, without scheme, ``www.``, fragment, trailing slashes or
    marks (``https://www.Apache.org/licenses/LICENSE-2.0/.`` and ``http://apache.org/licenses/license-2.0``
    meet)."""
    key = url.strip().lower().split("#", 1)[0].rstrip("/'\".,;:)>]")
    key = re.sub(r"\A(?:(?:https?|ftp)://|www\.)+", "", key)
    return key.rstrip("/")


def _scancode_spdx_keys(licenses_dir: Path) -> dict[str, str]:
    """ScanCode license key -> its SPDX id (``spdx_license_key``: an SPDX list id, or ScanCode's own
    ``LicenseRef-scancode-<key>``)."""
    keys: dict[str, str] = {}
    for entry in sorted(licenses_dir.glob("*.LICENSE")):
        parsed = SCANCODE_ENTRY.match(entry.read_text(encoding="utf-8", errors="replace") + "\n")
        meta = parsed.group(1) if parsed else ""
        key = re.search(r"^key:\s*(\S+)", meta, re.MULTILINE)
        spdx = re.search(r"^spdx_license_key:\s*(\S+)", meta, re.MULTILINE)
        if key and spdx:
            keys[key.group(1)] = spdx.group(1)
    return keys


def _spdx_expression(expression: str, keys: dict[str, str]) -> str | None:
    """A ScanCode expression in SPDX ids; None when a key has no SPDX id."""
    out: list[str] = []
    for token in re.findall(r"[()]|[^\s()]+", expression):
        if token in "()" or token.upper() in ("AND", "OR", "WITH"):
            out.append(token.upper() if token not in "()" else token)
        elif token in keys:
            out.append(keys[token])
        else:
            return None
    return re.sub(r"\( ", "(", re.sub(r" \)", ")", " ".join(out)))


def build_urls(scancode_data: Path) -> dict[str, Any]:
    """The shipped URL references: ``source``, ``urls`` {``url_key``: SPDX expression}, ``ambiguous`` (URLs
    left out because two rules disagree)."""
    keys = _scancode_spdx_keys(scancode_data / "licenses")
    found: dict[str, set[str]] = {}
    for entry in sorted((scancode_data / "rules").glob("*.RULE")):
        parsed = SCANCODE_ENTRY.match(entry.read_text(encoding="utf-8", errors="replace") + "\n")
        if not parsed:
            continue
        meta, body = parsed.group(1), parsed.group(2).strip()
        if not re.fullmatch(r"(?i)(?:https?://|ftp://|www\.)\S+", body):
            continue
        if re.search(r"^is_false_positive:\s*yes", meta, re.MULTILINE):
            continue
        expression = re.search(r"^license_expression:\s*(.+?)\s*$", meta, re.MULTILINE)
        spdx = _spdx_expression(expression.group(1), keys) if expression else None
        if spdx:
            found.setdefault(url_key(body), set()).add(spdx)
    return {
        "source": "ScanCode rules (PyPI scancode-toolkit), CC-BY-4.0",
        "urls": {url: next(iter(e)) for url, e in sorted(found.items()) if len(e) == 1},
        "ambiguous": sorted(url for url, e in found.items() if len(e) > 1),
    }


@lru_cache(maxsize=1)
def load_license_urls() -> dict[str, Any]:
    """The shipped URL references (see ``build_urls``); read once per process."""
    raw = resources.files("stackcurate.licenses").joinpath("data", URLS_FILE).read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


@lru_cache(maxsize=1)
def load_spdx_exceptions() -> dict[str, Any]:
    """The shipped exceptions structure (see ``build_exceptions``); read once per process."""
    raw = resources.files("stackcurate.licenses").joinpath("data", EXCEPTIONS_FILE).read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


@lru_cache(maxsize=1)
def load_spdx_texts() -> dict[str, Any]:
    """The shipped structure (see ``build``); read once per process."""
    raw = resources.files("stackcurate.licenses").joinpath("data", DATA_FILE).read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


def _write(name: str, data: dict[str, Any]) -> Path:
    target = Path(__file__).parent / "data" / name
    payload = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    target.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    return target


def main(argv: list[str]) -> int:
    if argv[:1] == ["--urls"] and len(argv) == 2:
        data = build_urls(Path(argv[1]))
        target = _write(URLS_FILE, data)
        print(f"{target}: {len(data['urls'])} URLs, {len(data['ambiguous'])} ambiguous left out")
        return 0
    if argv[:1] == ["--exceptions"] and len(argv) == 3:
        data = build_exceptions(Path(argv[1]), Path(argv[2]))
        target = _write(EXCEPTIONS_FILE, data)
        print(f"{target}: {len(data['exceptions'])} exception texts, missing {data['missing']}")
        return 0
    source = Path(argv[0])
    package = source.parent / "package.json"
    version = json.loads(package.read_text())["version"] if package.exists() else "unknown"
    data = build(json.loads(source.read_text()), version)
    target = _write(DATA_FILE, data)
    print(f"{target}: {len(data['licenses'])} texts ({data['source']}), {target.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
