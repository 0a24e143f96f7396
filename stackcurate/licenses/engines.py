"""License-text detectors, run in batches, memoised by a digest of the normalised text.

``LicensecheckEngine`` drives Debian's ``licensecheck`` (apt-get install licensecheck): one process per batch
of texts. It first reads each text the way licensecheck does by default (the first cluster of license
statements, which is the main license of a LICENSE file that appends third-party notices); texts it leaves
UNKNOWN, or reads as a GPL-family license, are read again in full (``--lines=0``) so that composite texts such
as Python's license stack can be recognised by the bundle rules (``rules/licenses.yaml``).

``ScancodeEngine`` (optional, ``pip install scancode-toolkit-mini``) is asked about texts the first engine
leaves unknown. It is accurate and slow (a few files per second).

``LicenseMemo`` keeps results in SQLite keyed by ``memo_key``: a digest of the engines (names and versions, in
order), the rules and the exact text. Nothing that could change a verdict is normalised away (an earlier key
dropped copyright lines, so every one-line "Copyright ..., licensed under X" file shared the empty text's
verdict). Most repositories carry one of a few dozen license texts, so warm runs rarely call a detector.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from stackcurate.errors import FatalError

BATCH_FILES = 400
#: words without which a text holds no license licensecheck could name
LICENSE_VOCABULARY = re.compile(
    r"licen[cs]|copyright|copyleft|permission|warrant|\bgpl|public\s+domain|redistribut", re.IGNORECASE
)


def memo_key(context: str, text: str) -> str:
    """sha256 of ``context`` (engines and rules, see ``LicenseDetector``) and the exact text (line ends as
    ``\\n``): two texts share a key only when every engine would read the same bytes."""
    body = text.replace("\r\n", "\n")
    return hashlib.sha256(f"{context}\0{body}".encode("utf-8", "surrogatepass")).hexdigest()


class LicenseEngine(Protocol):
    """A detector: digest -> text in, digest -> ``Detection`` out, for a whole batch at once."""

    name: str
    version: str

    def identify(self, texts: dict[str, str]) -> dict[str, Detection]: ...


@dataclass(frozen=True)
class Detection:
    """What an engine read in one text: raw license names (empty = unknown), the engine that read them, and
    the part of the text it could not account for (empty when none)."""

    names: tuple[str, ...]
    engine: str
    note: str = ""


class LicenseMemo:
    """Digest -> detection, in memory and (when ``path`` is set) in SQLite shared by processes."""

    def __init__(self, path: str | None):
        self.path = path
        self._memory: dict[str, Detection] = {}
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        if self._db is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS detections "
                "(key TEXT PRIMARY KEY, names TEXT, engine TEXT, note TEXT)"
            )
        return self._db

    def get_many(self, keys: Iterable[str]) -> dict[str, Detection]:
        found = {k: self._memory[k] for k in keys if k in self._memory}
        missing = [k for k in keys if k not in found]
        db = self._connect()
        if db is not None and missing:
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                marks = ",".join("?" * len(chunk))
                for key, names, engine, note in db.execute(
                    f"SELECT key, names, engine, note FROM detections WHERE key IN ({marks})", chunk
                ):
                    found[key] = self._memory[key] = Detection(tuple(json.loads(names)), engine, note)
        return found

    def put_many(self, results: dict[str, Detection]) -> None:
        self._memory.update(results)
        db = self._connect()
        if db is not None and results:
            db.executemany(
                "INSERT OR REPLACE INTO detections VALUES (?, ?, ?, ?)",
                [(k, json.dumps(list(d.names)), d.engine, d.note) for k, d in results.items()],
            )

    def __getstate__(self) -> dict[str, object]:  # connections do not pickle; each process opens its own
        return {"path": self.path, "_memory": {}, "_db": None}


def _split_licensecheck(result: str) -> tuple[str, ...]:
    """'(A and/or B) with X exception' -> ('A', 'B'); 'UNKNOWN' -> ()."""
    text = re.sub(r"\s+with\s+\S+\s+exception", "", result.strip(), flags=re.IGNORECASE)
    names = [part.strip(" ()") for part in re.split(r"\s+and/or\s+|\s+or\s+|\s+and\s+", text)]
    return tuple(sorted({n for n in names if n and n.upper() != "UNKNOWN"}))


class LicensecheckEngine:
    """Batched Debian ``licensecheck``. Raises ``FatalError`` with the install command when it is missing."""

    name = "licensecheck"

    def __init__(self, binary: str = "licensecheck"):
        path = shutil.which(binary)
        if path is None:
            raise FatalError(
                "license detection needs Debian's licensecheck: apt-get install licensecheck "
                "(the PyPI package of that name only reads package metadata)"
            )
        self.binary = path
        self.version = self._version()

    def _version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=False).stdout
        match = re.search(r"(\d+\.\d+(\.\d+)?)", out)
        return f"licensecheck-{match.group(1) if match else 'unknown'}"

    def _run(self, folder: Path, names: list[str], full: bool) -> dict[str, str]:
        results: dict[str, str] = {}
        for start in range(0, len(names), BATCH_FILES):
            chunk = names[start : start + BATCH_FILES]
            command = [self.binary, "--machine", "--shortname-scheme=spdx", "--check=.*"]
            if full:
                command.append("--lines=0")
            proc = subprocess.run(
                [*command, "--", *chunk],
                cwd=folder,
                capture_output=True,
                text=True,
                check=False,
                timeout=3600,
            )
            if proc.returncode not in (0, 1):  # licensecheck exits 1 when it has warnings
                raise FatalError(f"licensecheck failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
            for line in proc.stdout.splitlines():
                path, _, result = line.partition("\t")
                results[path] = result
        return results

    def identify(self, texts: dict[str, str]) -> dict[str, Detection]:
        """digest -> Detection for ``texts`` (digest -> text), one licensecheck process per batch. A text
        without a word of license vocabulary is not handed over: licensecheck names nothing in it, and on the
        calibration suite such texts were 16% of its input and none of its findings."""
        skipped = {
            k: Detection((), self.version) for k, t in texts.items() if not LICENSE_VOCABULARY.search(t)
        }
        texts = {k: t for k, t in texts.items() if k not in skipped}
        if not texts:
            return skipped
        with tempfile.TemporaryDirectory(prefix="stackcurate-licensecheck-") as tmp:
            folder = Path(tmp)
            names = []
            for digest, text in texts.items():
                (folder / digest).write_text(text, encoding="utf-8")
                names.append(digest)
            first = {k: _split_licensecheck(v) for k, v in self._run(folder, names, full=False).items()}
            again = [n for n in names if not first.get(n) or any("GPL" in x for x in first[n])]
            full = (
                {k: _split_licensecheck(v) for k, v in self._run(folder, again, full=True).items()}
                if again
                else {}
            )
        detections: dict[str, Detection] = dict(skipped)
        for digest in names:
            short = first.get(digest, ())
            names_read = full.get(digest) or short
            detections[digest] = Detection(names_read, f"{self.version}{'+full' if full.get(digest) else ''}")
        return detections


class TitleEngine:
    """Recognise a text by its license's own title near the top (``titles`` in rules/licenses.yaml).

    Meant as the last fallback: it reads only what earlier engines left unknown, and only titles that name a
    single license version exactly (a Blue Oak Model License 1.0.0 text, an Apache License 2.0 text with a
    preamble before it, ...). A license file that holds nothing but a license's name ("Apache 2.0") is read
    through the alias table."""

    name = "titles"

    def __init__(self, rules_dir: str | None = None):
        from stackcurate.licenses.policy import load_license_policy

        self.policy = load_license_policy(rules_dir)
        self.version = "titles-1"  # the rules' digest is part of every memo key already

    def identify(self, texts: dict[str, str]) -> dict[str, Detection]:
        detections: dict[str, Detection] = {}
        for digest, text in texts.items():
            short = " ".join(text.split())
            if len(short) <= 80 and short.lower() in self.policy.aliases:
                detections[digest] = Detection((self.policy.aliases[short.lower()],), "titles")
                continue
            head = text[: self.policy.title_chars]
            found = tuple(sorted({spdx for pattern, spdx in self.policy.titles if pattern.search(head)}))
            detections[digest] = Detection(found, "titles")
        return detections


class ScancodeEngine:
    """Optional ScanCode Toolkit engine (``pip install scancode-toolkit-mini``), one process per batch."""

    name = "scancode"

    def __init__(self, binary: str = "scancode", processes: int = 1):
        path = shutil.which(binary)
        if path is None:
            raise FatalError(
                "the scancode engine needs ScanCode: pip install scancode-toolkit-mini 'pluggy==1.0.0'"
            )
        self.binary = path
        self.processes = processes
        self.version = "scancode"

    def identify(self, texts: dict[str, str]) -> dict[str, Detection]:
        if not texts:
            return {}
        with tempfile.TemporaryDirectory(prefix="stackcurate-scancode-") as tmp:
            folder = Path(tmp) / "texts"
            folder.mkdir()
            for digest, text in texts.items():
                (folder / digest).write_text(text, encoding="utf-8")
            report = Path(tmp) / "report.json"
            proc = subprocess.run(
                [
                    self.binary,
                    "--license",
                    "--quiet",
                    "-n",
                    str(self.processes),
                    "--json",
                    str(report),
                    str(folder),
                ],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "SCANCODE_CACHE": str(Path(tmp) / "cache")},
            )
            if proc.returncode != 0 or not report.exists():
                raise FatalError(f"scancode failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
            data = json.loads(report.read_text())
        detections: dict[str, Detection] = {}
        for entry in data.get("files", []):
            if entry.get("type") != "file":
                continue
            digest = Path(entry["path"]).name
            expression = entry.get("detected_license_expression_spdx") or ""
            detections[digest] = Detection((expression,) if expression else (), "scancode")
        return detections
