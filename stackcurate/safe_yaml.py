"""YAML for files a user (or anyone who hands them one) writes: safe tags only, and bounded aliases.

``yaml.safe_load`` refuses unsafe tags but expands aliases freely: a 14-line "billion laughs" file (each
level a list of nine aliases of the level above) is a few hundred bytes of YAML and 9^9 values once
anything walks it (pydantic, ``json.dumps``), which exhausts memory. ``safe_load_bounded`` composes the
node graph first, counts the nodes it stands for with every alias expanded (memoised per node, so the
count itself is cheap), and refuses the document when that passes ``max_nodes``.
"""

from __future__ import annotations

from typing import Any

import yaml

#: nodes of a document with every alias expanded; pipeline files have a few hundred
MAX_NODES = 100_000


class ExpansionError(yaml.YAMLError):
    """A document whose aliases expand beyond the bound."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = limit + 1  # a node that contains itself expands without end
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, limit)
            if size > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            size += _expanded_size(key_node, memo, limit) + _expanded_size(value_node, memo, limit)
            if size > limit:
                break
    memo[key] = size
    return size


def safe_load_bounded(text: str, max_nodes: int = MAX_NODES) -> Any:
    """``yaml.safe_load(text)``, refusing (``ExpansionError``) documents that expand past ``max_nodes``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, max_nodes)
        if size > max_nodes:
            raise ExpansionError(
                f"its aliases expand to more than {max_nodes:,} values (a YAML alias bomb?); write the "
                "values out, or use fewer nested aliases"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()
