"""Jupyter notebooks -> scripts, as StarCoderData's ``jupyter-scripts`` data (arXiv 2305.06161 sec. 3).

A ``.ipynb`` file (language ``jupyter-notebook``) is read with jupytext and written back in the "percent"
script format of its kernel's language: code cells as code, markdown cells as comments, outputs dropped,
no jupytext header (so the text does not depend on the jupytext version). The converted file gets
``language: jupyter-scripts-dedup-filtered`` (StarCoderData's name for this data) and the kernel's language,
in this project's names (``python``, ``r``, ``julia``, ...), in the ``notebook_language`` column; the
``content`` is the script and ``size_bytes`` its size. Drop reasons: ``malformed_notebook`` (not JSON, not a
notebook) and ``notebook_unknown_language`` (no kernel language, or one jupytext cannot write).
"""

from __future__ import annotations

import json
import warnings
from typing import ClassVar

import pyarrow as pa
from datatrove.data import Document
from datatrove.pipeline.writers.disk_base import DiskWriter

from stackcurate.rules import load_language_map
from stackcurate.stage import FileFilter

NOTEBOOK_LANGUAGE = "jupyter-notebook"
SCRIPTS_LANGUAGE = "jupyter-scripts-dedup-filtered"
#: kernel language names that differ from jupytext's
KERNEL_ALIASES = {"python3": "python", "python2": "python", "ir": "r", "c#": "csharp", "f#": "fsharp"}


def _kernel_language(metadata: dict) -> str | None:
    for candidate in (
        (metadata.get("kernelspec") or {}).get("language"),
        (metadata.get("language_info") or {}).get("name"),
        (metadata.get("kernelspec") or {}).get("name"),
    ):
        if isinstance(candidate, str) and candidate.strip():
            name = candidate.strip().lower()
            return KERNEL_ALIASES.get(name, name)
    return None


def convert_notebook(text: str) -> tuple[str, str]:
    """``(script, jupytext extension)`` of notebook JSON ``text``. Raises ``ValueError`` with a reason
    (``malformed_notebook`` or ``notebook_unknown_language``) when it cannot."""
    import jupytext
    from jupytext.languages import _SCRIPT_EXTENSIONS

    try:
        raw = json.loads(text)
        if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
            raise ValueError("not a notebook: no list of cells")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            notebook = jupytext.reads(text, fmt="ipynb")
        metadata = notebook.get("metadata") or {}
        language = _kernel_language(metadata if isinstance(metadata, dict) else {})
    except Exception as error:  # json, jupytext and nbformat raise many types on bad input
        raise ValueError("malformed_notebook") from error
    extension = next(
        (ext for ext, spec in _SCRIPT_EXTENSIONS.items() if spec["language"].lower() == language), None
    )
    if extension is None:
        raise ValueError("notebook_unknown_language")
    notebook.metadata["jupytext"] = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "-all"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            script = jupytext.writes(notebook, fmt=f"{extension.lstrip('.')}:percent")
    except Exception as error:
        raise ValueError("malformed_notebook") from error
    return script, extension.lstrip(".").lower()


class NotebookConverter(FileFilter):
    """Convert ``jupyter-notebook`` files to scripts; every other file passes untouched."""

    name = "notebooks"
    adds_columns: ClassVar[dict[str, pa.DataType]] = {"notebook_language": pa.string()}

    def __init__(self, rules_dir: str | None = None, exclusion_writer: DiskWriter | None = None):
        super().__init__(exclusion_writer)
        self.languages = load_language_map(rules_dir)

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        doc.metadata["notebook_language"] = None
        if doc.metadata.get("language") != NOTEBOOK_LANGUAGE:
            return True
        try:
            script, extension = convert_notebook(doc.text)
        except ValueError as error:
            return False, str(error)
        kernel = self.languages.by_extension.get(extension, extension)
        doc.text = script
        doc.metadata["language"] = SCRIPTS_LANGUAGE
        doc.metadata["notebook_language"] = kernel
        doc.metadata["size_bytes"] = len(script.encode("utf-8"))
        self.stat_update(f"converted_{kernel}")
        return True
