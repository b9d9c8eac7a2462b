"""``POST /api/v1/links/import`` and ``GET /api/v1/links/export`` (see :mod:`.importer`,
:mod:`.exporter` for the formats)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, g, request, stream_with_context

from .auth import add_ratelimit_headers
from .core import ApiBlueprint
from .errors import ApiProblem, register_problem_handlers
from .exporter import export_csv, export_json
from .importer import ImportFormatError, ImportReport, detect_kind, rows_of, run_import, text_stream
from .schemas import ExportArgsSchema, ImportArgsSchema, ImportReportSchema

bp = ApiBlueprint(
    "transfer",
    __name__,
    url_prefix="/api/v1",
    description="Bulk import and export of links (CSV, JSON).",
)
register_problem_handlers(bp)
bp.after_request(add_ratelimit_headers)

_FILE = {"type": "string", "format": "binary"}
_IMPORT_BODY = {
    "required": True,
    "description": (
        "The file: as the raw body (Content-Type text/csv, application/json or "
        "application/x-ndjson) or as the `file` field of a multipart form."
    ),
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": _FILE}, "required": ["file"]}
        },
    },
}


@bp.before_request
def bound_body() -> None:
    """Imports may be large (``API_IMPORT_MAX_BYTES``); they are streamed, never held whole."""
    request.max_content_length = int(current_app.config["API_IMPORT_MAX_BYTES"])


def open_upload(requested: str) -> tuple[str, Any, str | None]:
    """``(kind, binary stream, file name)`` of the request's file; 400/415 when unusable."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiProblem(
                400, "Send the file in a form field named file.", errors={"file": ["Missing."]}
            )
        kind = detect_kind(upload.mimetype, upload.filename, requested)
        source, name = upload.stream, upload.filename
    else:
        kind = detect_kind(request.mimetype, None, requested)
        source, name = request.stream, None
    if kind is None:
        raise ApiProblem(
            415,
            "Send CSV (text/csv), JSON (application/json) or NDJSON (application/x-ndjson).",
            errors={"Content-Type": [f"Unsupported: {request.mimetype or 'none'}."]},
        )
    return kind, source, name


def import_file(owner: Any, args: dict[str, Any]) -> ImportReport:
    """Read the request's file and import it for ``owner`` (shared with the dashboard)."""
    kind, source, _ = open_upload(args.get("format", "auto"))
    report = ImportReport()
    try:
        return run_import(
            owner,
            rows_of(kind, text_stream(source), report),
            report,
            on_conflict=args.get("on_conflict", "skip"),
        )
    except ImportFormatError as error:
        raise ApiProblem(400, error.message, errors={"file": [error.message]}) from None


@bp.route("/links/import", methods=["POST"])
@bp.authenticated("write")
@bp.arguments(ImportArgsSchema, location="query")
@bp.response(200, ImportReportSchema)
@bp.doc(requestBody=_IMPORT_BODY)
def import_links(args: dict[str, Any]) -> dict[str, Any]:
    """Import links

    Streams CSV or JSON (LinkFleet's export, Shlink's CSV export, YOURLS' CSV) row by row
    and commits in batches. Idempotent by slug: a slug that is already yours is skipped or
    updated (`on_conflict`), someone else's is a row error. Answers with a report that
    lists failed rows and their field errors.
    """
    return import_file(g.api_user, args).as_dict()


def export_response(user: Any, fmt: str) -> Response:
    """A streamed download of ``user``'s links (shared with the dashboard)."""
    if fmt == "json":
        body, mimetype = export_json(user), "application/json"
    else:
        body, mimetype = export_csv(user), "text/csv"
    response = current_app.response_class(stream_with_context(body), mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="linkfleet-links.{fmt}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/links/export", methods=["GET"])
@bp.authenticated("read")
@bp.arguments(ExportArgsSchema, location="query")
@bp.response(200, {"type": "string"}, content_type="text/csv")
@bp.alt_response(
    200,
    schema={"type": "array", "items": {"$ref": "#/components/schemas/Link"}},
    content_type="application/json",
    success=True,
)
def export_links(args: dict[str, Any]) -> Response:
    """Export links

    All your links (admins: all links), streamed as CSV or as a JSON array of link
    objects. Either file imports back with `POST /links/import`.
    """
    return export_response(g.api_user, args["format"])


__all__ = ["bp", "export_response", "import_file"]
