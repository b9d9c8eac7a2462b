"""Dashboard pages of the API: API keys (create, list, revoke) and import/export.

A new key is shown once, in the response to the form that made it: never put in the session
or a flash message (both live in Redis) and sent with ``Cache-Control: no-store``.

The import form is exempt from the app-wide CSRF hook on purpose: that hook parses the form
before any view runs, so the upload could not be bounded first. The view sets the body limit
(``API_IMPORT_MAX_BYTES``), then its Flask-WTF form checks the same CSRF token itself.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..accounts.auth import login_required
from ..extensions import csrf
from .importer import ImportFormatError, ImportReport, detect_kind, rows_of, run_import, text_stream
from .keys import MAX_NAME_LENGTH, ApiKeyError, create_api_key, keys_of, revoke
from .transfer import export_response

bp = Blueprint("api_ui", __name__, url_prefix="/dashboard")

Page = str | tuple[str, int] | BaseResponse


class CreateKeyForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        "Name",
        validators=[DataRequired(), Length(max=MAX_NAME_LENGTH)],
        description="What will use it, e.g. “deploy script”.",
    )
    scope = SelectField(
        "Access",
        choices=[SelectChoice("write", "Read and write"), SelectChoice("read", "Read only")],
        default="write",
    )
    submit = SubmitField("Create key")


class RevokeForm(FlaskForm):  # type: ignore[misc]
    submit = SubmitField("Revoke")


class ImportForm(FlaskForm):  # type: ignore[misc]
    file = FileField("File", validators=[FileRequired("Choose a CSV or JSON file.")])
    on_conflict = SelectField(
        "Short names you already have",
        choices=[
            SelectChoice("skip", "Keep mine, skip the row"),
            SelectChoice("update", "Update mine from the file"),
        ],
        default="skip",
    )
    submit = SubmitField("Import")


@bp.route("/api-keys", methods=["GET", "POST"])
@login_required
def keys() -> Page:
    """List the user's keys; create one (shown once)."""
    form = CreateKeyForm()
    new_key: str | None = None
    status = 200
    if form.validate_on_submit():
        try:
            _, new_key = create_api_key(current_user.id, form.name.data, form.scope.data)
        except ApiKeyError as error:
            form.name.errors = [*form.name.errors, str(error)]
            status = 422
        else:
            status = 201
            form = CreateKeyForm(formdata=None)
    elif form.errors:
        status = 422
    html = render_template(
        "api/keys.html",
        form=form,
        keys=keys_of(current_user.id),
        new_key=new_key,
        revoke_form=RevokeForm(),
    )
    response = current_app.make_response((html, status))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api-keys/<int:key_id>/revoke")
@login_required
def revoke_key(key_id: int) -> Page:
    if not RevokeForm().validate_on_submit():
        abort(400)
    key = revoke(current_user.id, key_id)
    if key is None:
        abort(404)
    flash(f"Revoked the key “{key.name}” ({key.display}).", "success")
    return redirect(url_for("api_ui.keys"))


@bp.route("/import-export", methods=["GET", "POST"])
@login_required
def transfer() -> Page:
    """Export links as CSV/JSON; import a file and show the report."""
    request.max_content_length = int(current_app.config["API_IMPORT_MAX_BYTES"])
    form = ImportForm()
    report: ImportReport | None = None
    problem: str | None = None
    status = 200
    if form.validate_on_submit():
        upload = form.file.data
        kind = detect_kind(upload.mimetype, upload.filename, "auto")
        if kind is None:
            problem = "Choose a .csv, .json or .ndjson file."
            status = 415
        else:
            report = ImportReport()
            try:
                run_import(
                    current_user._get_current_object(),
                    rows_of(kind, text_stream(upload.stream), report),
                    report,
                    on_conflict=form.on_conflict.data,
                )
            except ImportFormatError as error:
                problem, report, status = error.message, None, 400
    elif form.errors:
        status = 422
    return render_template("api/transfer.html", form=form, report=report, problem=problem), status


csrf.exempt(transfer)  # see the module docstring: the form checks its token itself


@bp.get("/import-export/export")
@login_required
def export() -> BaseResponse:
    fmt = request.args.get("format", "csv")
    if fmt not in {"csv", "json"}:
        abort(400)
    return export_response(current_user._get_current_object(), fmt)
