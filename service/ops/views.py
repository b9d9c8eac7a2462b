"""``/healthz`` (the process runs), ``/readyz`` (its dependencies answer), ``/metrics``."""

from __future__ import annotations

from flask import Response, abort, current_app, jsonify, request
from sqlalchemy import text

from ..app import is_private_address
from ..extensions import db, metrics, redis_client
from . import bp


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: answers while the worker runs, touching nothing else."""
    return jsonify(status="ok")


def _check_redis() -> str | None:
    try:
        redis_client.client.ping()
    except Exception as exc:  # any failure means "not ready"; the reason is reported
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_database() -> str | None:
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Readiness: 200 only when Redis and the database answer, else 503 naming the failures."""
    failures = {
        name: error
        for name, error in (("redis", _check_redis()), ("database", _check_database()))
        if error is not None
    }
    if failures:
        return jsonify(status="unavailable", failed=sorted(failures), errors=failures), 503
    return jsonify(status="ok", checks={"redis": "ok", "database": "ok"}), 200


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    """Prometheus text for this replica; hidden (404) from clients outside private networks,
    and from everyone when ``METRICS_PORT`` serves them on a listener of their own: behind
    an ingress that connects from a private address, the address check proves nothing."""
    if current_app.config.get("METRICS_PORT") or not is_private_address(
        request.client_ip  # type: ignore[attr-defined]
    ):
        abort(404)
    body, content_type = metrics.render()
    return Response(body, content_type=content_type)
