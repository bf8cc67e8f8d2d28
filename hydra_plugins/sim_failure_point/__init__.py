"""Hydra plugins of sim: the failure-point sweeper (hydra/sweeper=failure_point)."""
