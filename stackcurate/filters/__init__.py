"""File filters: language selection (and, as the pipeline grows, quality rules and decontamination)."""
