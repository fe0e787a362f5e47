"""voxtral-gateway: per-request routing across Voxtral replicas."""

from __future__ import annotations

import asyncio
import logging
import sys


def main(argv: list[str] | None = None) -> None:
    from .options import parse
    from .server import serve

    options = parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per health check
    try:
        import uvloop
    except ImportError:
        sys.exit(asyncio.run(serve(options)))
    sys.exit(uvloop.run(serve(options)))


if __name__ == "__main__":
    main()
