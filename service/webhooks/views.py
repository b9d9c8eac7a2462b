"""The dashboard's Webhooks page: create (secret shown once), list, enable/disable, delete,
send a test ping, and each endpoint's delivery log. Every form carries a CSRF token.

Like a new API key, a new secret is only ever in the response to the form that made it (never
in the session or a flash message) and that response is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectMultipleField, StringField, SubmitField, widgets
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..accounts.auth import login_required
from ..links.errors import ValidationError
from .models import EVENTS, WebhookEndpoint
from .outbox import enqueue_ping
from .services import (
    change_endpoint,
    create_endpoint,
    delete_endpoint,
    deliveries_of,
    endpoint_of,
    endpoints_of,
)

bp = Blueprint("webhooks", __name__, url_prefix="/dashboard/webhooks")

Page = str | tuple[str, int] | BaseResponse

EVENT_LABELS = {
    "link.created": "A link was created",
    "link.updated": "A link was changed",
    "link.deleted": "A link was deleted",
    "link.clicked": "Links were clicked (counts, batched)",
}


class CreateWebhookForm(FlaskForm):  # type: ignore[misc]
    url = StringField(
        "Endpoint URL",
        validators=[DataRequired(), Length(max=2048)],
        description="An https:// URL on a public address.",
    )
    events = SelectMultipleField(
        "Events",
        choices=[SelectChoice(name, EVENT_LABELS[name]) for name in EVENTS],
        widget=widgets.ListWidget(prefix_label=False),
        option_widget=widgets.CheckboxInput(),
        validators=[DataRequired("Choose at least one event.")],
    )
    submit = SubmitField("Create webhook")


class ActionForm(FlaskForm):  # type: ignore[misc]
    """The CSRF token of the row buttons (enable, disable, ping, delete)."""


@bp.route("", methods=["GET", "POST"])
@login_required
def index() -> Page:
    """List the user's webhooks; create one (its secret shown once)."""
    form = CreateWebhookForm()
    new_secret: str | None = None
    status = 200
    if form.validate_on_submit():
        try:
            endpoint = create_endpoint(current_user.id, form.url.data, form.events.data)
        except ValidationError as error:
            for name, message in error.errors.items():
                getattr(form, name, form.url).errors.append(message)
            status = 422
        else:
            new_secret, status = endpoint.secret, 201
            form = CreateWebhookForm(formdata=None)
    elif form.errors:
        status = 422
    html = render_template(
        "webhooks/index.html",
        form=form,
        endpoints=endpoints_of(current_user.id),
        new_secret=new_secret,
        action_form=ActionForm(),
        labels=EVENT_LABELS,
    )
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


def _checked_action(endpoint_id: int) -> WebhookEndpoint:
    if not ActionForm().validate_on_submit():
        abort(400)
    return endpoint_of(current_user.id, endpoint_id)


@bp.post("/<int:endpoint_id>/enable")
@login_required
def enable(endpoint_id: int) -> Page:
    change_endpoint(_checked_action(endpoint_id), enabled=True)
    flash("Webhook enabled.", "success")
    return redirect(url_for("webhooks.index"))


@bp.post("/<int:endpoint_id>/disable")
@login_required
def disable(endpoint_id: int) -> Page:
    change_endpoint(_checked_action(endpoint_id), enabled=False)
    flash("Webhook disabled: nothing is sent to it until you enable it.", "success")
    return redirect(url_for("webhooks.index"))


@bp.post("/<int:endpoint_id>/ping")
@login_required
def ping(endpoint_id: int) -> Page:
    endpoint = _checked_action(endpoint_id)
    enqueue_ping(endpoint)
    flash("Test ping queued; it appears in the delivery log once sent.", "success")
    return redirect(url_for("webhooks.deliveries", endpoint_id=endpoint_id))


@bp.post("/<int:endpoint_id>/delete")
@login_required
def delete(endpoint_id: int) -> Page:
    delete_endpoint(_checked_action(endpoint_id))
    flash("Webhook deleted.", "success")
    return redirect(url_for("webhooks.index"))


@bp.get("/<int:endpoint_id>")
@login_required
def deliveries(endpoint_id: int) -> Page:
    """The endpoint's newest deliveries: status, attempts, response, duration, error."""
    endpoint = endpoint_of(current_user.id, endpoint_id)
    return render_template(
        "webhooks/deliveries.html",
        endpoint=endpoint,
        deliveries=deliveries_of(endpoint),
        action_form=ActionForm(),
    )
