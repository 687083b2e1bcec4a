"""GET /metrics over real HTTP on both backends: events by outcome, queue depth, HTTP latency by route."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.helpers import event
from tests.conftest import unique


def scrape(http) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics", headers={"X-CREDYT-API-KEY": ""})  # open: no key needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def events_counted(samples, outcome: str) -> float:
    return samples[("drawdown_events_total", (("outcome", outcome),))]


def test_metrics_count_an_accepted_and_a_refused_event(http) -> None:
    customer = http.post("/customers", json={"name": "Ada", "external_id": unique("ext")}).json()["id"]
    before = scrape(http)

    assert http.post("/events", json={"customer_id": customer, "events": [event(tokens=1)]}).status_code == 204
    refused = http.post("/events", json={"customer_id": "cust_nobody", "events": [event(tokens=1)]})
    assert refused.status_code == 422  # an unknown customer: the whole batch is refused

    after = scrape(http)
    assert events_counted(after, "accepted") - events_counted(before, "accepted") == 1
    assert events_counted(after, "refused") - events_counted(before, "refused") == 1
    groups = ("drawdown_group_size_batches_count", ())
    assert after[groups] - before[groups] == 2
    assert after[("drawdown_group_commit_seconds_count", ())] >= 2


def test_metrics_expose_queue_depth_job_and_http_latency_by_route_template(http) -> None:
    customer = http.post("/customers", json={"name": "Ada", "external_id": unique("ext")}).json()["id"]
    assert http.get(f"/customers/{customer}").status_code == 200
    assert http.get("/customers/cust_missing").status_code == 404
    samples = scrape(http)

    assert samples[("drawdown_writer_queue_depth", ())] == 0
    for name in ("drawdown_job_customers_visited_total", "drawdown_job_lag_seconds"):
        assert (name, ()) in samples
    assert ("drawdown_job_runs_total", (("outcome", "ok"),)) in samples

    def count(route: str, status: str) -> float:
        key = (
            "drawdown_http_request_duration_seconds_count",
            (("method", "GET"), ("route", route), ("status", status)),
        )
        return samples.get(key, 0)

    assert count("/customers/{customerId}", "2xx") >= 1
    assert count("/customers/{customerId}", "4xx") >= 1
    routes = {dict(labels).get("route") for name, labels in samples if name.startswith("drawdown_http_")}
    assert not any(customer in (route or "") for route in routes), "raw paths must never become labels"
