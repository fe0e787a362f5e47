"""The `voxtral-operator` command: `run` the operator, `render` a VoxtralService's objects,
print the `crd`."""

from __future__ import annotations

import argparse
import os
import sys

from voxtral_operator import __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voxtral-operator",
        description="Run Mistral's Voxtral speech models on Kubernetes (voxtral.dev/v1alpha1).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run",
        help="run the operator (settings: VOXTRAL_OPERATOR_* environment variables)",
        description="Run the operator. Settings come from VOXTRAL_OPERATOR_* environment "
        "variables (see voxtral_operator.config); flags here override them.",
    )
    run.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="serve this namespace (repeatable; default: all, or VOXTRAL_OPERATOR_NAMESPACES)",
    )
    run.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="serve every namespace, whatever VOXTRAL_OPERATOR_NAMESPACES says",
    )
    render = sub.add_parser(
        "render",
        help="print the objects the operator would create, as YAML",
        description="Print, as YAML, every object the operator would create for the "
        "VoxtralService(s) in FILE, without a cluster.",
    )
    render.add_argument(
        "-f",
        "--filename",
        required=True,
        metavar="FILE",
        help="YAML file with VoxtralService documents (- for stdin)",
    )
    render.add_argument(
        "-n",
        "--namespace",
        default=None,
        help="namespace for documents that name none (default: default)",
    )
    sub.add_parser("crd", help="print the VoxtralService CustomResourceDefinition")
    return parser


def _run(args: argparse.Namespace) -> int:
    import kopf

    import voxtral_operator.handlers  # noqa: F401  (registers the handlers)
    from voxtral_operator.config import ConfigError, Settings

    environ = dict(os.environ)
    if args.namespace:  # -n takes the place of the setting, and is checked like it
        environ["VOXTRAL_OPERATOR_NAMESPACES"] = ",".join(args.namespace)
    try:
        settings = Settings.from_env(environ)
    except ConfigError as exc:
        print(f"voxtral-operator: {exc}", file=sys.stderr)
        return 2
    namespaces = () if args.all_namespaces else settings.namespaces
    kopf.configure(
        debug=settings.log_level == "debug",
        verbose=settings.log_level == "debug",
        quiet=settings.log_level == "warning",
        log_format={
            "plain": kopf.LogFormat.PLAIN,
            "full": kopf.LogFormat.FULL,
            "json": kopf.LogFormat.JSON,
        }[settings.log_format],
    )
    kopf_settings = kopf.OperatorSettings()
    # Without cluster-wide access (namespaced Roles), kopf would retry its CRD and namespace
    # lists for about a minute before serving the named namespaces: say so up front.
    kopf_settings.scanning.disabled = not settings.observe_cluster
    kopf.run(
        settings=kopf_settings,
        clusterwide=not namespaces,
        namespaces=namespaces,
        standalone=not settings.peering,
        peering_name=settings.peering or None,
        priority=settings.priority,
        liveness_endpoint=settings.health_endpoint or None,
        memo=kopf.Memo(settings=settings),
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "render":
        from voxtral_operator.render import main as render_main

        return render_main(args.filename, args.namespace)
    if args.command == "crd":
        from voxtral_operator.api.crd import render_crd

        sys.stdout.write(render_crd())
        return 0
    return _run(args)


if __name__ == "__main__":
    raise SystemExit(main())
