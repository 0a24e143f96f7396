"""presidio-analyzer, imported without PyTorch.

presidio's ``nlp_engine`` package imports spaCy, whose ``thinc`` imports PyTorch whenever it is installed (the
``train`` and ``dev`` extras install it), and presidio's device detector imports it again to look for a GPU:
about 1.2 s of a process's start and half a second of its exit, for nothing, since stackcurate runs presidio
without an NLP model (``NoOpNlpEngine``: the recognisers are regular expressions and validators). ``presidio``
imports ``presidio_analyzer`` with ``torch`` held out (an entry of None in ``sys.modules``, which makes
``import torch`` raise ImportError: thinc and the detector take it as "not installed", as they were written
to), then takes that entry away, so that a later ``import torch`` in the same process (the training loader,
a test) imports it as usual. Where torch was imported first, it is left as it is.
"""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

#: one import at a time: the entry held out must not be seen by another thread's import of torch for longer
#: than the import of presidio itself
_LOCK = threading.Lock()
HELD_OUT = "torch"


def presidio() -> ModuleType:
    """The ``presidio_analyzer`` module, imported without PyTorch (see the module docstring)."""
    loaded = sys.modules.get("presidio_analyzer")
    if loaded is not None:
        return loaded
    with _LOCK:
        hold = HELD_OUT not in sys.modules
        if hold:
            sys.modules[HELD_OUT] = None  # type: ignore[assignment]
        try:
            return importlib.import_module("presidio_analyzer")
        finally:
            if hold and HELD_OUT in sys.modules and sys.modules[HELD_OUT] is None:
                del sys.modules[HELD_OUT]
