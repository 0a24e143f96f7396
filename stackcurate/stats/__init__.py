"""Per-stage counters merged from the tasks' stats JSON files, and their presentation."""
