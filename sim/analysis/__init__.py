"""Analysis of results: SLO evaluation, failure detection, replications and intervals
(reads results only)."""

from .replications import (
    Interval,
    batch_means,
    batch_means_block,
    replication_block,
    replication_seed,
    t_interval,
)
from .slo import bottleneck, evaluate

__all__ = ["Interval", "batch_means", "batch_means_block", "bottleneck", "evaluate",
           "replication_block", "replication_seed", "t_interval"]
