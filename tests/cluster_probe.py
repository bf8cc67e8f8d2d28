"""Where a sweep's job ran on a Ray cluster: a Hydra callback for ``tests/test_cluster.py``.

Each node of the test's Ray cluster has a custom resource of its own (``sim_head``,
``sim_worker``). Added to a sweep with ``+hydra.callbacks.where_ran._target_=
cluster_probe.WhereRan``, this callback writes, when a job starts (in the Ray worker
that runs it), the names of those resources on the job's node into ``ray_node.txt`` in
the job's run directory. It reads and changes nothing else, so the job's results are
those of a sweep without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

NODE_FILE = "ray_node.txt"
PREFIX = "sim_"  # the custom resources that name the test cluster's nodes


class WhereRan(Callback):
    """Writes the Ray node a job runs on (its ``sim_*`` resources) into the job's directory."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        import ray
        from hydra.core.hydra_config import HydraConfig

        node = ray.get_runtime_context().get_node_id()
        names = sorted(name for n in ray.nodes() if n["NodeID"] == node
                       for name in n["Resources"] if name.startswith(PREFIX))
        out = Path(HydraConfig.get().runtime.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / NODE_FILE).write_text(",".join(names) + "\n")
