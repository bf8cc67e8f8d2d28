"""Hydra plugins of sim: the risk sweeper (hydra/sweeper=risk)."""
