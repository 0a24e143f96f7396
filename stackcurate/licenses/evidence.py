"""Where license evidence comes from: license files, ``SPDX-License-Identifier`` headers, package manifests.

Manifests read (their ``license`` field, as the ecosystem spells it): ``package.json``,
``composer.json``, ``Cargo.toml``, ``pyproject.toml`` (``project.license`` text/expression), ``setup.cfg``
(``metadata.license``), ``*.gemspec`` (``license``/``licenses``), ``pom.xml`` (``<licenses>...<name>``).
A README that mentions a license is not evidence: prose such as "unlike the GPL" or "see LICENSE" would be
misread too often.
"""

from __future__ import annotations

import configparser
import json
import re
import tomllib
from collections.abc import Iterator

SPDX_HEADER = re.compile(r"SPDX-License-Identifier:\s*([^\n\r*]+?)\s*(?:\*/|-->|#}|\*\)|$)", re.MULTILINE)
MANIFESTS = ("package.json", "composer.json", "Cargo.toml", "pyproject.toml", "setup.cfg", "pom.xml")


def spdx_header(text: str, head_bytes: int) -> str | None:
    """The expression of the first ``SPDX-License-Identifier:`` line in the head of a file, if any."""
    match = SPDX_HEADER.search(text[:head_bytes])
    if not match:
        return None
    value = match.group(1).strip().strip("\"'`;,")
    return value or None


def is_manifest(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name in MANIFESTS or name.endswith(".gemspec")


def _json_licenses(data: object) -> Iterator[str]:
    if not isinstance(data, dict):
        return
    value = data.get("license")
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict) and isinstance(value.get("type"), str):
        yield value["type"]
    elif isinstance(value, list):
        yield " OR ".join(v for v in value if isinstance(v, str))  # composer: a list means a choice
    for item in data.get("licenses", []) if isinstance(data.get("licenses"), list) else []:
        if isinstance(item, dict) and isinstance(item.get("type"), str):
            yield item["type"]
        elif isinstance(item, str):
            yield item


def manifest_licenses(path: str, text: str) -> list[str]:
    """License strings a manifest declares (raw, to be normalised); [] when none or unreadable."""
    name = path.rsplit("/", 1)[-1]
    try:
        if name in ("package.json", "composer.json"):
            return [v for v in _json_licenses(json.loads(text)) if v.strip()]
        if name in ("Cargo.toml", "pyproject.toml"):
            data = tomllib.loads(text)
            section = data.get("package") if name == "Cargo.toml" else data.get("project")
            value = section.get("license") if isinstance(section, dict) else None
            if isinstance(value, dict):
                value = (
                    value.get("text")
                    if isinstance(value.get("text"), str) and len(value["text"]) < 100
                    else None
                )
            return [value] if isinstance(value, str) and value.strip() else []
        if name == "setup.cfg":
            parser = configparser.ConfigParser(interpolation=None)
            parser.read_string(text)
            value = parser.get("metadata", "license", fallback="").strip()
            return [value] if value and "\n" not in value and len(value) < 100 else []
        if name.endswith(".gemspec"):
            found = re.findall(r"\.licen[cs]es?\s*=\s*\[?([^\]\n]+)\]?", text)
            values = [v.strip(" '\"") for group in found for v in group.split(",")]
            return [" OR ".join(values)] if len(values) > 1 else values
        if name == "pom.xml":
            block = re.search(r"<licenses>(.*?)</licenses>", text, flags=re.DOTALL)
            names = re.findall(r"<name>\s*([^<]+?)\s*</name>", block.group(1)) if block else []
            return [" AND ".join(names)] if len(names) > 1 else names
    except (ValueError, tomllib.TOMLDecodeError, configparser.Error, AttributeError):
        return []
    return []
