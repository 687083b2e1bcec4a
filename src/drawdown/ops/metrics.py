"""Prometheus metrics for one application: a registry of its own, so several apps in one process (the
tests) never share or collide. Imports nothing of ours, so the usage and billing rooms may record here.

Recording is cheap by design: counters are incremented once per group commit, not once per event; the
queue depth is read only when scraped; job figures are plain numbers kept per process and read at scrape
time (the billing job runs in the ``serve`` process, beside the application).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_GROUP_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_COMMIT_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_HTTP_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """Every metric of one application, in ``registry``."""

    def __init__(self, job: JobStats | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter(
            "drawdown_events", "Usage events by outcome: accepted (billed), replayed (a resend of one stored), "
            "refused (not recorded)", ["outcome"], registry=r,
        )
        self._accepted, self._replayed, self._refused = (
            self.events.labels(o) for o in ("accepted", "replayed", "refused")
        )
        self.group_size = Histogram(
            "drawdown_group_size_batches", "Batches (POST /events requests) billed per group commit",
            buckets=_GROUP_SIZES, registry=r,
        )
        self.group_seconds = Histogram(
            "drawdown_group_commit_seconds", "Time to bill and commit one group, transaction included",
            buckets=_COMMIT_SECONDS, registry=r,
        )
        self.groups_failed = Counter(
            "drawdown_groups_failed", "Groups whose transaction failed, so each batch was billed alone", registry=r
        )
        self.queue_depth = Gauge(
            "drawdown_writer_queue_depth", "Batches waiting for the batching writer", registry=r
        )
        self.http_seconds = Histogram(
            "drawdown_http_request_duration_seconds", "HTTP request latency by method, route template and status "
            "class", ["method", "route", "status"], buckets=_HTTP_SECONDS, registry=r,
        )
        r.register(_JobCollector(job or JOB))
        r.register(_WebhookCollector(WEBHOOKS))

    def counted(self, accepted: int, replayed: int, refused: int) -> None:
        """Events of one group (or one batch billed alone), by outcome."""
        if accepted:
            self._accepted.inc(accepted)
        if replayed:
            self._replayed.inc(replayed)
        if refused:
            self._refused.inc(refused)

    def group(self, batches: int, seconds: float) -> None:
        self.group_size.observe(batches)
        self.group_seconds.observe(seconds)

    def watch_queue(self, depth: Callable[[], int]) -> None:
        """The queue depth is read from ``depth`` at each scrape, never on the hot path."""
        self.queue_depth.set_function(depth)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class _JobFigures:
    runs_ok: int = 0
    runs_failed: int = 0
    visited: int = 0
    last_start: float | None = None  # wall-clock start of the last run that finished well
    last_success: float | None = None  # wall-clock end of it


class JobStats:
    """The billing job's figures in this process (the job loop runs beside the application)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.figures = _JobFigures()

    def finished(self, started: float, visited: int, ok: bool) -> None:
        with self._lock:
            f = self.figures
            f.visited += visited
            if ok:
                f.runs_ok += 1
                f.last_start, f.last_success = started, time.time()
            else:
                f.runs_failed += 1

    def snapshot(self) -> _JobFigures:
        with self._lock:
            return _JobFigures(**vars(self.figures))


JOB = JobStats()  # this process's billing job


class _JobCollector(Collector):
    def __init__(self, job: JobStats) -> None:
        self.job = job

    def collect(self) -> Iterator[Metric]:
        f = self.job.snapshot()
        runs = CounterMetricFamily("drawdown_job_runs", "Billing job runs by outcome", labels=["outcome"])
        runs.add_metric(["ok"], f.runs_ok)
        runs.add_metric(["failed"], f.runs_failed)
        yield runs
        yield CounterMetricFamily(
            "drawdown_job_customers_visited", "Customers the billing job visited (had something due)", value=f.visited
        )
        yield GaugeMetricFamily(
            "drawdown_job_last_success_timestamp_seconds",
            "Unix time the last successful billing job run finished (0: none yet in this process)",
            value=f.last_success or 0,
        )
        lag = time.time() - f.last_start if f.last_start is not None else 0
        yield GaugeMetricFamily(
            "drawdown_job_lag_seconds",
            "Now minus the start of the last successful billing job run (0: none yet in this process)",
            value=lag,
        )


class WebhookStats:
    """The webhook delivery worker's figures in this process (it runs beside the application)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.figures = {"delivered": 0, "failed": 0, "given_up": 0, "disabled": 0}

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            self.figures[name] += count

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.figures)


WEBHOOKS = WebhookStats()  # this process's webhook deliveries


class _WebhookCollector(Collector):
    def __init__(self, stats: WebhookStats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        f = self.stats.snapshot()
        attempts = CounterMetricFamily(
            "drawdown_webhook_attempts", "Webhook delivery attempts by outcome", labels=["outcome"]
        )
        attempts.add_metric(["delivered"], f["delivered"])
        attempts.add_metric(["failed"], f["failed"])
        yield attempts
        yield CounterMetricFamily(
            "drawdown_webhook_deliveries_given_up", "Webhook deliveries given up after 3 days of failures",
            value=f["given_up"],
        )
        yield CounterMetricFamily(
            "drawdown_webhook_destinations_disabled", "Webhook destinations disabled for failing (docs/webhooks.md)",
            value=f["disabled"],
        )
