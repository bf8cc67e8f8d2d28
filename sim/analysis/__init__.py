"""Analysis of results: SLO evaluation, failure detection, replications and intervals,
counterfactual attribution (reads results only)."""

from .attribution import Factor, build_attribution, necessary, sufficient
from .replications import (
    Interval,
    batch_means,
    batch_means_block,
    replication_block,
    replication_seed,
    t_interval,
)
from .slo import bottleneck, evaluate

__all__ = ["Factor", "Interval", "batch_means", "batch_means_block", "bottleneck",
           "build_attribution", "evaluate", "necessary", "replication_block",
           "replication_seed", "sufficient", "t_interval"]
