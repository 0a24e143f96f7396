"""stackcurate: turn git repositories into clean, legal, deduplicated training data for code LLMs.

The pipeline follows The Stack (arXiv 2211.15533) and StarCoder (arXiv 2305.06161); see docs/architecture.md
for the architecture and README.md for the quickstart.
"""

__version__ = "0.1.0"
