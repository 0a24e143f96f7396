"""``PiiRedactor``: the pipeline stage that redacts PII (last step before the curated output).

Each file is scanned (``PiiScanner``) and its ``content`` replaced by the redacted text; ``pii_counts``
(one count per entity type) is added, ``size_bytes`` follows the new content, ``id`` stays the blob id of
the original file (provenance). With an audit folder, every span found -- repo, path, type, offsets, the
original text -- goes to ``<out>/pii_audit/<rank>.parquet``: for reviewing the detector, never part of the
curated output or the shards (keep that folder private).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
from datatrove.data import Document, DocumentsPipeline
from datatrove.io import DataFolderLike, get_datafolder
from datatrove.pipeline.base import PipelineStep

from stackcurate.pii.recognizers import ENTITIES
from stackcurate.pii.redact import PiiScanner, redact
from stackcurate.stage import content_bytes

PII_COUNTS = pa.struct([(entity, pa.int64()) for entity in ENTITIES])
AUDIT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("repo", pa.string()),
        ("path", pa.string()),
        ("type", pa.string()),
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("text", pa.string()),
        ("recognizer", pa.string()),
    ]
)


class PiiRedactor(PipelineStep):
    """Redact EMAIL, IP_ADDRESS, KEY, PASSWORD (and NAME with ``names``) in every file."""

    name = "pii"
    type = "🔒 - PII"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {"pii_counts": PII_COUNTS}

    def __init__(
        self,
        rules_dir: str | None = None,
        names: bool = False,
        keep_public_ips_only: bool = True,
        audit_folder: DataFolderLike | None = None,
    ):
        super().__init__()
        self.scanner = PiiScanner(rules_dir, names, keep_public_ips_only)
        self.rules_dir = rules_dir
        self.audit_folder = get_datafolder(audit_folder) if audit_folder is not None else None

    def redact_document(self, doc: Document) -> list[dict[str, Any]]:
        """Redact ``doc`` in place (``content``, ``size_bytes``, ``pii_counts``) and count it; returns its
        audit rows (every span found, with its original text)."""
        self.stat_update("files_in")
        self.stat_update("bytes_in", value=content_bytes(doc))
        audit_rows: list[dict[str, Any]] = []
        with self.track_time():
            spans = self.scanner.scan(doc.text)
            text, counts = redact(doc.text, spans, self.rules_dir)
        if spans:
            self.stat_update("files_with_pii")
            for entity, count in counts.items():
                if count:
                    self.stat_update(f"redacted_{entity}", value=count)
            # per recognizer too (`recognizer:<TYPE>:<name>`), so a curator sees which rule redacted what
            for span in spans:
                self.stat_update(f"recognizer:{span.type}:{span.recognizer}")
            meta = doc.metadata
            audit_rows = [
                {"id": doc.id, "repo": meta.get("repo"), "path": meta.get("path"), **span.to_dict()}
                for span in spans
            ]
            doc.text = text
            doc.metadata["size_bytes"] = len(text.encode("utf-8"))
        doc.metadata["pii_counts"] = counts
        self.stat_update("files_out")
        self.stat_update("bytes_out", value=content_bytes(doc))
        return audit_rows

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        audit_rows: list[dict[str, Any]] = []
        for doc in data or ():
            spans = self.redact_document(doc)
            if self.audit_folder is not None:
                audit_rows.extend(spans)
            yield doc
        if self.audit_folder is not None:
            name = f"{rank:05d}.parquet"
            tmp = f"{name}.tmp-{uuid.uuid4().hex[:8]}"
            with self.audit_folder.open(tmp, "wb") as handle:
                pq.write_table(pa.Table.from_pylist(audit_rows, schema=AUDIT_SCHEMA), handle)
            self.audit_folder.mv(tmp, name)
