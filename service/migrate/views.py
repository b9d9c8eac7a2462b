"""The dashboard's Migrate page: start a migration (a job the worker runs), watch it.

The request only checks the form and the peer URL (the SSRF check) and queues the job
(:func:`.jobs.start_job`); its page reloads itself while the job waits or runs.
"""

from __future__ import annotations

import redis
from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from ..accounts.auth import login_required
from .fetch import PeerError, check_peer_url
from .forms import PEER_LABELS, MigrateForm
from .jobs import DEFAULT_SECRET_TTL, job_of, jobs_of, report_of, start_job
from .models import QUEUED, RUNNING, MigrationJob

bp = Blueprint("migrate", __name__, url_prefix="/dashboard/migrate")

Page = str | tuple[str, int] | BaseResponse


def _queue(form: MigrateForm) -> MigrationJob | None:
    """The form's job, queued; None when Redis cannot keep the credentials."""
    try:
        return start_job(
            current_user._get_current_object(),
            form.peer.data,
            form.url.data.strip(),
            secrets={
                "signature" if form.peer.data == "yourls" else "api_key": form.api_key.data or "",
                "password": form.password.data or "",
            },
            username=form.username.data or "",
            every_user=bool(form.every_user.data),
            secret_ttl=int(current_app.config.get("MIGRATE_SECRET_TTL", DEFAULT_SECRET_TTL)),
        )
    except redis.RedisError:
        return None


@bp.route("", methods=["GET", "POST"])
@login_required
def index() -> Page:
    """The form, and the account's recent migrations."""
    form = MigrateForm()
    status = 200
    problems: list[str] = []
    if form.validate_on_submit():
        status = 422
        problems = form.credential_errors()
        if not problems:
            try:
                check_peer_url(
                    form.url.data.strip(),
                    allow_private=bool(current_app.config["WEBHOOKS_ALLOW_PRIVATE"]),
                )
            except PeerError as error:
                form.url.errors.append(str(error))
            else:
                job = _queue(form)
                if job is not None:
                    return redirect(url_for("migrate.job", job_id=job.id), 303)
                problems = ["The migration could not be queued just now; try again."]
                status = 503
    elif form.errors:
        status = 422
    html = render_template(
        "migrate/index.html",
        form=form,
        problems=problems,
        jobs=jobs_of(current_user._get_current_object()),
        labels=PEER_LABELS,
    )
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:job_id>")
@login_required
def job(job_id: int) -> Page:
    """A job's progress and report; reloads itself until the job ends."""
    found = job_of(current_user._get_current_object(), job_id)
    if found is None:
        abort(404)
    return render_template(
        "migrate/job.html",
        job=found,
        report=report_of(found),
        active=found.status in (QUEUED, RUNNING),
        labels=PEER_LABELS,
    )
