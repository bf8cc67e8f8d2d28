"""Analysis of results: SLO evaluation and failure detection (reads results only)."""

from .slo import bottleneck, evaluate

__all__ = ["bottleneck", "evaluate"]
