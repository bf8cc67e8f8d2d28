"""Start the testbed: ``python -m testbed [--port 8089] [--log timing.tsv] [--config FILE]``.

Binds 127.0.0.1 only. Stops cleanly on Ctrl-C or SIGTERM (uvicorn's shutdown: the
tiers stop, the timing log is flushed and closed).
"""

from __future__ import annotations

import argparse
import sys

from .config import DEFAULT, ConfigError, load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m testbed", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--log", default="timing.tsv", help="the timing log (testbed.timing)")
    ap.add_argument("--config", default=str(DEFAULT), help="tiers and sizes (YAML)")
    args = ap.parse_args(argv)
    try:
        cfg = load(args.config)
    except (ConfigError, OSError, TypeError) as exc:
        print(f"testbed: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    from .app import create_app

    uvicorn.run(create_app(cfg, args.log), host="127.0.0.1", port=args.port,
                log_level="warning", access_log=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
