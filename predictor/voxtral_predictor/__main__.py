"""voxtral-predictor: Voxtral on vLLM behind a KServe model server."""

from __future__ import annotations

import logging
import os
import sys


def main(argv: list[str] | None = None) -> None:
    from kserve.model_server import parser as kserve_parser

    from .options import build_parser, options_from_namespace

    options = options_from_namespace(build_parser([kserve_parser]).parse_args(argv))
    configure_logging()
    from . import engine, frontends
    from .runtime import Runtime, cuda_device_count

    gpus = engine.visible_gpu_count(os.environ, cuda_device_count())
    count = frontends.api_servers(options, gpus)
    if count > 1:
        sys.exit(frontends.Supervisor(options, count).run())
    from .server import run

    sys.exit(run(Runtime(options), options))


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"
    )
    quiet_known_noise()


def quiet_known_noise() -> None:
    """Warnings that say nothing to an operator of this server, once per request."""
    import warnings

    # KServe's app is built with FastAPI's deprecated ORJSONResponse default.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")


if __name__ == "__main__":
    main()
