"""infra/grafana/takeback-dashboard.json: every query names series the running services serve.

The services' metrics endpoints are scraped (the gateway's /metrics, a stream worker's and a
ledger worker's on their health ports); a name counts as served when a sample of it is
exposed, or its family is declared (`# TYPE`) with no sample yet, or (for the gateway's
counters of events that have not happened yet, which its worker processes expose only from
the first one) the gateway's own registry declares it. Every label a query groups by or
matches on must be one of that series' labels.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from services.gateway.entrypoints.metrics import GatewayMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "takeback-dashboard.json"
PROMQL_WORDS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "rate",
    "increase",
    "irate",
    "histogram_quantile",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "le",
}
SUFFIXES = {
    "counter": ("",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
    "untyped": ("",),
    "info": ("",),
}


def panels() -> list[dict]:
    """Every panel, those inside a collapsed row too (Grafana keeps them in the row's own `panels`)."""
    found = []
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        found += [panel, *panel.get("panels", [])]
    return found


def queries() -> list[str]:
    return [target["expr"] for panel in panels() for target in panel.get("targets", [])]


def metric_names(expr: str) -> set[str]:
    """The series a PromQL expression reads: identifiers that are neither functions, keywords nor labels."""
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_groupings = re.sub(r"\b(by|without)\s*\([^)]*\)", "", without_strings)
    without_matchers = re.sub(r"\{[^}]*\}", "", without_groupings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_matchers)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_ranges))
    return {name for name in names if name not in PROMQL_WORDS and not re.fullmatch(r"\d.*", name)}


def label_uses(expr: str) -> set[tuple[str, str]]:
    """(series, label) of each `series{label=...}` matcher, and of `by (...)` around a single series."""
    uses = set()
    for name, matchers in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}", expr):
        uses |= {
            (name, label) for label in re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=|!=|=~|!~)", matchers)
        }
    for labels, inner in re.findall(r"\bby\s*\(([^)]*)\)\s*\((.*)\)", expr):
        series = metric_names(inner)
        if len(series) == 1:
            uses |= {(next(iter(series)), label.strip()) for label in labels.split(",") if label.strip()}
    return uses


def served(text: str) -> dict[str, set[str] | None]:
    """name -> its labels, of every series an exposition serves; None for a series declared with no sample yet
    (its labels cannot be seen, e.g. a counter by reason that no request has had)."""
    series: dict[str, set[str] | None] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            for suffix in SUFFIXES.get(kind, ("",)):
                series.setdefault(family + suffix, None)
        elif line and not line.startswith("#"):
            match = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?", line)
            assert match, line
            labels = series.get(match.group(1)) or set()
            labels.update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', match.group(2) or ""))
            series[match.group(1)] = labels
    return series


def test_the_dashboard_is_a_grafana_dashboard_with_queries():
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in panels()]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 30
    assert len(queries()) >= 20 and all(metric_names(q) for q in queries())
    assert all(panel.get("targets") for panel in panels() if panel["type"] != "row"), (
        "a panel without a query"
    )
    assert metric_names('sum by (type) (rate(takeback_events_applied_total{outcome="x"}[5m]))') == {
        "takeback_events_applied_total"
    }
    assert label_uses('sum by (type) (rate(takeback_events_applied_total{outcome="x"}[5m]))') == {
        ("takeback_events_applied_total", "outcome"),
        ("takeback_events_applied_total", "type"),
    }


@pytest.fixture(scope="module")
def scraped(stack, settings) -> dict[str, set[str] | None]:
    series: dict[str, set[str] | None] = {}
    for port, path in (
        (settings.http_port, "/metrics"),
        (settings.streams_metrics_port, "/metrics"),
        (settings.ledger_metrics_port, "/metrics"),
    ):
        response = httpx.get(f"http://{settings.http_host}:{port}{path}", timeout=10.0)
        assert response.status_code == 200, f"port {port}: {response.status_code}"
        for name, labels in served(response.text).items():
            if labels is not None or name not in series:
                series[name] = (series.get(name) or set()) | labels if labels is not None else None
    return series


def declared_by_the_gateway() -> set[str]:
    """Series the gateway declares but, with several worker processes, exposes only from their first event
    (a counter of 429s or of failed scrapes that nothing has increased yet): its registry, read in-process."""
    names = set()
    for family in GatewayMetrics().registry.collect():
        names |= {sample.name for sample in family.samples} | {family.name, f"{family.name}_total"}
    return names


def test_every_query_names_a_series_the_services_serve(scraped):
    not_scraped = {(expr, name) for expr in queries() for name in metric_names(expr) if name not in scraped}
    missing = {(expr, name) for expr, name in not_scraped if name not in declared_by_the_gateway()}
    assert not missing, f"queries name series no service serves: {sorted(missing)}"


def test_every_label_a_query_uses_is_one_of_its_series(scraped):
    wrong = {
        (expr, name, label)
        for expr in queries()
        for name, label in label_uses(expr)
        if scraped.get(name) is not None and label not in scraped[name]
    }
    assert not wrong, f"queries use labels their series do not have: {sorted(wrong)}"


def test_a_name_no_service_serves_is_found():
    assert "takeback_no_such_series_total" in metric_names("sum(rate(takeback_no_such_series_total[5m]))")
