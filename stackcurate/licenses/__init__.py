"""License detection: evidence (license files, SPDX headers, manifests), detectors, per-directory decisions,
and the pipeline steps that tag and filter files by license class."""
