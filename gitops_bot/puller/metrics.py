"""The puller's Prometheus metrics.

Owns: the metric names, help texts and labels, on a registry of the
puller's own (so two pullers in one test process do not collide), and
their text exposition for GET /metrics. Refuses: labels with unbounded
values (commits, object names): those go to the status object and Events.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.applies = Counter(
            "gitops_bot_applies",
            "Reconciles of an environment, by outcome (applied, failed, refused).",
            ["env", "outcome"],
            registry=r,
        )
        self.apply_seconds = Histogram(
            "gitops_bot_apply_duration_seconds",
            "Time from the start of rendering to the end of the reconcile.",
            ["env"],
            buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.drift = Counter(
            "gitops_bot_drift",
            "Objects found changed by someone else, by action (healed, reported, failed).",
            ["env", "action"],
            registry=r,
        )
        self.heal_seconds = Histogram(
            "gitops_bot_drift_heal_seconds",
            "Time from the drift's watch event to the object re-applied.",
            ["env"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.last_applied = Gauge(
            "gitops_bot_last_applied_timestamp_seconds",
            "When the environment was last applied successfully (Unix time).",
            ["env"],
            registry=r,
        )
        self.objects = Gauge(
            "gitops_bot_objects",
            "Applied objects of the environment, by health after the last apply.",
            ["env", "health"],
            registry=r,
        )
        self.fetch_errors = Counter(
            "gitops_bot_fetch_errors",
            "Fetches of the tracked branch that went wrong.",
            registry=r,
        )
        self.leader = Gauge(
            "gitops_bot_leader", "1 while this replica holds any environment's Lease.", registry=r
        )
        self.leased = Gauge(
            "gitops_bot_env_leased",
            "1 while this replica holds the environment's Lease (it applies it), else 0.",
            ["env"],
            registry=r,
        )
        self.pokes = Counter("gitops_bot_pokes", "Authenticated pokes received.", registry=r)
        self.plan_requests = Counter(
            "gitops_bot_plan_requests",
            "Requests to POST /plan, by the HTTP status answered (200, 401, 429 ...).",
            ["answer"],
            registry=r,
        )

    def set_health(self, env: str, counts: dict[str, int]) -> None:
        for health in ("Healthy", "Progressing", "Degraded", "Unknown"):
            self.objects.labels(env=env, health=health).set(counts.get(health, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
