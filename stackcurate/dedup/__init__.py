"""Deduplication: exact (content hash) as multi-pass stages joined by folders."""
