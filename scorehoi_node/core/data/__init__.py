"""Training data: the `HOIShard` format (`shards`) and dataset loaders that produce it.

Importing this package loads only numpy; safetensors is imported by the functions that read and
write shards. The dataset loaders live in `behave` and `intercap` (numpy only, no torch).
"""

from __future__ import annotations

from scorehoi_node.core.data.shards import (
    HOIShard,
    RestRootJoint,
    concat_shards,
    iter_shards,
    read_shard,
    write_shard,
)

__all__ = ["HOIShard", "RestRootJoint", "concat_shards", "iter_shards", "read_shard", "write_shard"]
