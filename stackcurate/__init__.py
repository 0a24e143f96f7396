"""stackcurate: turn git repositories into clean, legal, deduplicated training data for code LLMs.

The pipeline follows The Stack (arXiv 2211.15533) and StarCoder (arXiv 2305.06161); see docs/architecture.md
for the architecture and README.md for the quickstart.
"""

__version__ = "0.1.0"

import os as _os

# Arrow's allocator (mimalloc) backs its buffers with transparent huge pages: a buffer that grows (a Parquet
# column decoded, a shard encoded, a ``take``) is copied into fresh 2 MB pages that the kernel zeroes first.
# Without them the shards_write pass takes half the CPU (8.5 -> 3.9 task-s on the sample) and an opt-out
# purge a sixth less (docs/scaling.md). Read when pyarrow loads, so set on importing the package, which every
# entry point does first; a value the user set is kept.
_os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
