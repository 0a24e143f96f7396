"""Turn a ``PipelineConfig`` into passes: datatrove pipelines joined by folders (docs/architecture.md,
"Passes and folders"). ``pass_specs(cfg)`` lists them in order; each ``PassSpec`` builds its ``Pass`` when
its input exists (``plan/specs.py``). The builders: ``plan/passes.py`` (clone, filter, exact dedup, near
signatures and pairs, curate), ``plan/rounds.py`` (the components rounds and the near decisions) and
``plan/shards.py`` (tokenizer and training shards)."""

from __future__ import annotations

from stackcurate.config import PipelineConfig
from stackcurate.plan.passes import (
    build_clone,
    build_curate,
    build_exact_decide,
    build_exact_hash,
    build_filter,
    build_near_pairs,
    build_near_signatures,
    multi_pass,
)
from stackcurate.plan.rounds import components_specs
from stackcurate.plan.shards import shards_specs
from stackcurate.plan.specs import Pass, PassSpec

__all__ = ["Pass", "PassSpec", "pass_specs"]


def pass_specs(cfg: PipelineConfig) -> list[PassSpec]:
    """The passes ``cfg`` runs, in order."""
    clone_steps = "clone + walk repos list"
    filters = []
    if cfg.stages.licenses is not None:
        clone_steps += f" -> license detect ({', '.join(cfg.stages.licenses.engines)})"
        filters.append(f"licenses(keep={cfg.stages.licenses.keep})")
    if cfg.stages.notebooks is not None:
        filters.append("notebooks -> scripts")
    if cfg.stages.languages is not None:
        filters.append(f"languages(keep={cfg.stages.languages.keep!r})")
    if cfg.stages.quality is not None:
        filters.append("quality")
    if cfg.stages.decontaminate is not None:
        names = [*cfg.stages.decontaminate.builtin, *(f.name for f in cfg.stages.decontaminate.files)]
        filters.append(f"decontaminate({', '.join(names)})")
    redaction = ["PII redaction"] if cfg.stages.pii is not None else []
    if cfg.stages.opt_out is not None:
        filters.insert(0, f"opt-out filter ({cfg.stages.opt_out.folder})")  # before dedup, see _filter_steps
        clone_steps = f"skip opted-out repos -> {clone_steps}"
    specs = [PassSpec("clone", "01_clone", f"{clone_steps} -> write 01_clone", build_clone)]
    if not multi_pass(cfg):
        curate = " -> ".join(["read 01_clone", *filters, *redaction, "write curated"])
        return [*specs, PassSpec("curate", "curated", curate, build_curate), *shards_specs(cfg)]
    specs.append(
        PassSpec(
            "filter",
            "02_filtered",
            " -> ".join(["read 01_clone", *filters, "write 02_filtered"]),
            build_filter,
        )
    )
    dedup_filters = []
    exact, near = cfg.stages.exact_dedup, cfg.stages.near_dedup
    if exact is not None:
        specs += [
            PassSpec(
                "exact_hash",
                "dedup/exact/hashes",
                f"xxh3-128 of each file into {exact.buckets or 'sized'} buckets",
                build_exact_hash,
            ),
            PassSpec(
                "exact_decide",
                "dedup/exact/decisions",
                "one kept copy per hash, by priority",
                build_exact_decide,
            ),
        ]
        dedup_filters.append("exact dedup filter")
    if near is not None:
        bands, rows = near.banding()
        specs += [
            PassSpec(
                "near_signatures",
                "minhash/docs",
                f"MinHash ({near.num_perm} permutations, {near.ngram}-gram shingles) -> {bands} bands x "
                f"{rows} rows -> bucket groups",
                build_near_signatures,
            ),
            PassSpec(
                "near_pairs",
                "minhash/pairs",
                "files sharing a band bucket -> candidate pairs"
                + (f" -> verified (shingle Jaccard >= {near.threshold})" if near.verify else "")
                + " -> edges, hash-partitioned (then the components rounds, or one near_clusters task when "
                "the files fit component_memory_mb)",
                build_near_pairs,
                after=components_specs,
            ),
        ]
        dedup_filters.append("near dedup filter")
    curate = " -> ".join(["read 02_filtered", *dedup_filters, *redaction, "write curated"])
    return [*specs, PassSpec("curate", "curated", curate, build_curate), *shards_specs(cfg)]
