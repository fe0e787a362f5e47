"""The monitoring objects of spec.monitoring: a ServiceMonitor for the predictor pods and a
PrometheusRule with the alerts (custom resources of the Prometheus Operator), and the
Grafana dashboard in a ConfigMap labelled for Grafana's dashboard sidecar."""

from __future__ import annotations

import json
from typing import Any, Final

from voxtral_operator.api import names
from voxtral_operator.api.resolve import Resolved
from voxtral_operator.builders.alerts import alert_rules
from voxtral_operator.builders.dashboard import build_dashboard, uid_of
from voxtral_operator.builders.meta import finish, selector_labels

MONITORING_API: Final = "monitoring.coreos.com/v1"
SCRAPE_TIMEOUT: Final = "10s"


def _labels(resolved: Resolved) -> dict[str, str]:
    return dict(resolved.service.spec.monitoring.labels)


def build_service_monitor(resolved: Resolved) -> dict[str, Any] | None:
    monitoring = resolved.service.spec.monitoring
    if not monitoring.enabled:
        return None
    interval = monitoring.scrape_interval
    return finish(
        resolved,
        api_version=MONITORING_API,
        kind="ServiceMonitor",
        name=names.monitor(resolved.name),
        component=names.COMPONENT_MONITORING,
        extra_labels=_labels(resolved),
        body={
            "spec": {
                "selector": {"matchLabels": selector_labels(resolved.name)},
                "namespaceSelector": {"matchNames": [resolved.namespace]},
                "endpoints": [
                    {
                        # The Service's metrics port: /metrics on every replica, loading
                        # ones included (the Service's not-ready addresses are scraped too).
                        "port": "metrics",
                        "path": "/metrics",
                        "interval": interval,
                        "scrapeTimeout": min(interval, SCRAPE_TIMEOUT, key=_seconds),
                    }
                ],
            }
        },
    )


def _seconds(duration: str) -> int:
    return int(duration[:-1]) * (60 if duration.endswith("m") else 1)


def build_prometheus_rule(resolved: Resolved) -> dict[str, Any] | None:
    monitoring = resolved.service.spec.monitoring
    if not monitoring.enabled or not monitoring.alerts.enabled:
        return None
    return finish(
        resolved,
        api_version=MONITORING_API,
        kind="PrometheusRule",
        name=names.monitor(resolved.name),
        component=names.COMPONENT_MONITORING,
        extra_labels=_labels(resolved),
        body={
            "spec": {
                "groups": [
                    {
                        "name": f"voxtral.{resolved.namespace}.{resolved.name}",
                        "rules": alert_rules(resolved),
                    }
                ]
            }
        },
    )


def dashboard_key(resolved: Resolved) -> str:
    return f"voxtral-{resolved.namespace}-{resolved.name}.json"


def build_dashboard_config_map(resolved: Resolved) -> dict[str, Any] | None:
    monitoring = resolved.service.spec.monitoring
    if not monitoring.enabled or not monitoring.dashboard:
        return None
    spec = resolved.service.spec
    dashboard = build_dashboard(
        resolved.namespace, resolved.name, spec.gpu_resource, spec.model.served_name
    )
    return finish(
        resolved,
        api_version="v1",
        kind="ConfigMap",
        name=names.dashboard(resolved.name),
        component=names.COMPONENT_MONITORING,
        annotations={"voxtral.dev/dashboard-uid": uid_of(resolved.namespace, resolved.name)},
        extra_labels={names.LABEL_GRAFANA_DASHBOARD: "1"},
        body={"data": {dashboard_key(resolved): json.dumps(dashboard, indent=1, sort_keys=True)}},
    )
