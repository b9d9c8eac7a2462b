"""flask-smorest, adapted: problem+json errors, ``page``/``per_page`` pagination, Bearer auth.

:class:`LinkFleetApi` documents every error as ``application/problem+json`` (RFC 9457) and
leaves the app's own error handlers alone: flask-smorest would otherwise install its JSON
handler for *every* HTTP error of the app, dashboard pages included. The API blueprints carry
their own handlers instead (:func:`.errors.register_problem_handlers`).

:class:`ApiBlueprint` paginates with ``page`` and ``per_page`` and answers with the total in
``X-Total-Count``, RFC 8288 ``Link`` relations and flask-smorest's ``X-Pagination``; its
:meth:`~ApiBlueprint.authenticated` decorator checks the key, its scope and its rate limit.
"""

from __future__ import annotations

import http
import json
import threading
from collections.abc import Callable
from copy import deepcopy
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import marshmallow as ma
from flask import current_app, request
from flask_smorest import Api, Blueprint
from flask_smorest.pagination import PaginationParameters
from flask_smorest.spec import openapi_cli
from flask_smorest.utils import prepare_response, unpack_tuple_response
from werkzeug.exceptions import HTTPException

from .errors import PROBLEM_JSON, ProblemSchema, http_problem

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100


def api_config_defaults() -> dict[str, Any]:
    """Every API setting with its default (``init_api`` applies them with ``setdefault``)."""
    return {
        "API_TITLE": "LinkFleet API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        "API_SPEC_OPTIONS": {
            "info": {
                "description": (
                    "Manage short links programmatically. Authenticate with "
                    "`Authorization: Bearer <key>` (keys are made in the dashboard or with "
                    "`linkfleet apikey create`). Errors are `application/problem+json` "
                    "(RFC 9457) with per-field messages in `errors`."
                ),
            },
            "security": [{"bearerAuth": []}],
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API key: `lf_<prefix>_<secret>`.",
                    }
                }
            },
        },
        #: Per key and minute, shared by every replica (Flask-Limiter on Redis).
        "API_READ_RATE_LIMIT": "600 per minute",
        "API_WRITE_RATE_LIMIT": "120 per minute",
        #: Request bodies: JSON endpoints, and the import endpoint (streamed, never held whole).
        "API_JSON_MAX_BYTES": 64 * 1024,
        "API_IMPORT_MAX_BYTES": 20 * 1024 * 1024,  # nginx's client_max_body_size is 20m
        "API_IMPORT_BATCH_SIZE": 1000,
        #: How long a POST's response is kept for its ``Idempotency-Key`` (seconds).
        "API_IDEMPOTENCY_TTL": 24 * 3600,
        #: How long a retry waits for the same key's first request to finish (seconds).
        "API_IDEMPOTENCY_WAIT": 10.0,
        #: ``last_used_at`` is written at most this often per key (seconds).
        "API_KEY_TOUCH_INTERVAL": 60,
    }


class LinkFleetApi(Api):  # type: ignore[misc]
    """flask-smorest's ``Api`` with RFC 9457 errors, in the spec and on the wire, and the
    spec built on first use.

    flask-smorest builds the OpenAPI document while the app is made: a third of
    ``create_app``'s time, paid by every worker and every ``linkfleet`` command that never
    serves ``/api/openapi.json``. Here the routes are registered at once and the document
    (plugins, components, every blueprint's operations) when :attr:`spec` is first read.
    """

    #: Documents error bodies (flask-smorest's own schema has ``code``/``status``/``message``).
    ERROR_SCHEMA = ProblemSchema
    #: Every operation documents a ``default`` problem response (so 401, 413, 429 ... conform).
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def __init__(self, app: Any = None, **kwargs: Any) -> None:
        self._built_spec: Any = None
        self._spec_options: dict[str, Any] | None = None
        self._undocumented: list[tuple[Blueprint, str, Any]] = []
        self._spec_lock = threading.RLock()
        self._building_spec = False
        #: Set only once the whole document is built: a reader that sees it can serve it.
        self._spec_ready = False
        super().__init__(app, **kwargs)

    @property
    def spec(self) -> Any:
        """The OpenAPI document, built (once) on first read."""
        if not self._spec_ready:
            with self._spec_lock:  # re-entered by flask-smorest's own set-up: it reads .spec
                if not self._spec_ready and not self._building_spec:
                    self._building_spec = True
                    try:
                        self._build_spec()
                        self._spec_ready = True
                    finally:
                        self._building_spec = False
        return self._built_spec

    @spec.setter
    def spec(self, value: Any) -> None:
        self._built_spec = value

    def _build_spec(self) -> None:
        if self._spec_options is not None:
            options, self._spec_options = self._spec_options, None
            super()._init_spec(**options)
        while self._undocumented:
            blueprint, name, parameters = self._undocumented.pop(0)
            blueprint.register_views_in_doc(
                self, self._app, self._built_spec, name=name, parameters=parameters
            )
            self._built_spec.tag({"name": name, "description": blueprint.description})

    def _init_spec(self, **options: Any) -> None:
        """Only what must exist now (the ``flask openapi`` commands); the rest on first read."""
        with self._spec_lock:
            self._spec_options = options
            self._spec_ready = False
        self._app.cli.add_command(openapi_cli)

    def register_blueprint(self, blp: Blueprint, *, parameters: Any = None, **options: Any) -> None:
        """The blueprint's routes now, its documentation when :attr:`spec` is first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        with self._spec_lock:
            self._undocumented.append((blp, name, parameters))
            self._spec_ready = False

    def _register_error_handlers(self) -> None:
        """Deliberately nothing app-wide: the API blueprints register :meth:`handle_http_exception`
        themselves, and the app's own handler answers problem+json for any other ``/api/`` path."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        """An HTTP error as problem+json, field errors from webargs/``abort`` included."""
        return http_problem(error)

    def _register_responses(self) -> None:
        """Like flask-smorest's, but error responses are ``application/problem+json``."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            content_type = self.DEFAULT_RESPONSE_CONTENT_TYPE
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
                if status >= 400:
                    content_type = PROBLEM_JSON
            prepare_response(response, self.spec, content_type)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any error (RFC 9457 problem details)", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


class PageArgsSchema(ma.Schema):
    """``page`` (from 1) and ``per_page`` (1 to 100)."""

    class Meta:
        unknown = ma.EXCLUDE  # the other query arguments belong to the view's own schema

    page = ma.fields.Integer(
        load_default=1,
        validate=ma.validate.Range(min=1, max=1_000_000),
        metadata={"description": "Page number, from 1."},
    )
    per_page = ma.fields.Integer(
        load_default=DEFAULT_PER_PAGE,
        validate=ma.validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"Items per page, 1 to {MAX_PER_PAGE}."},
    )

    @ma.post_load
    def make_parameters(self, data: dict[str, int], **_: Any) -> PaginationParameters:
        return PaginationParameters(data["page"], data["per_page"])


_HEADER_DOCS = {
    "X-Pagination": {
        "description": (
            "JSON object: total, total_pages, first_page, last_page, page, previous_page, "
            "next_page."
        ),
        "schema": {"type": "string"},
    },
    "X-Total-Count": {
        "description": "Number of items on all pages.",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": "RFC 8288 links to the first, prev, next and last pages.",
        "schema": {"type": "string"},
    },
}


class ApiBlueprint(Blueprint):  # type: ignore[misc]
    """An API blueprint: pagination with ``page``/``per_page`` and key authentication."""

    PAGINATION_HEADER_NAME = "X-Pagination"

    def paginate(self, pager: Any = None, **_: Any) -> Callable[[Any], Any]:
        """Pagination in the view: it gets ``pagination_parameters`` and must set
        ``pagination_parameters.item_count``; the headers are added here."""
        if pager is not None:
            raise TypeError("LinkFleet views paginate in the query, not with a pager class")
        parameters = {"in": "query", "schema": PageArgsSchema}
        status = self.PAGINATION_ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                page_params = self.PAGINATION_ARGUMENTS_PARSER.parse(
                    PageArgsSchema(), request, location="query"
                )
                kwargs["pagination_parameters"] = page_params
                result, code, headers = unpack_tuple_response(
                    current_app.ensure_sync(func)(*args, **kwargs)
                )
                result, headers = self._set_pagination_metadata(page_params, result, headers)
                return result, code, headers

            wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))  # type: ignore[attr-defined]
            wrapper._apidoc["pagination"] = {  # type: ignore[attr-defined]
                "parameters": parameters,
                "response": {status: http.HTTPStatus(status).name},
            }
            return wrapper

        return decorator

    def _set_pagination_metadata(
        self, page_params: PaginationParameters, result: Any, headers: Any
    ) -> tuple[Any, Any]:
        headers = dict(headers or {})
        total = int(page_params.item_count or 0)
        per_page = page_params.page_size
        metadata = self._make_pagination_metadata(page_params.page, per_page, total)
        headers[self.PAGINATION_HEADER_NAME] = json.dumps(metadata)
        headers["X-Total-Count"] = str(total)
        last = max(1, -(-total // per_page))
        relations = {"first": 1, "last": last}
        if page_params.page > 1:
            relations["prev"] = min(page_params.page - 1, last)
        if page_params.page < last:
            relations["next"] = page_params.page + 1
        headers["Link"] = ", ".join(
            f'<{_page_url(number, per_page)}>; rel="{rel}"' for rel, number in relations.items()
        )
        return result, headers

    def _document_pagination_metadata(self, spec: Any, resp_doc: dict[str, Any]) -> None:
        """The headers as they are on the wire (flask-smorest documents ``X-Pagination`` as
        an object, but a header is a string: here, JSON)."""
        resp_doc.setdefault("headers", {}).update(deepcopy(_HEADER_DOCS))

    def authenticated(self, scope: str) -> Callable[[Any], Any]:
        """Require a key with ``scope`` (``read`` or ``write``), then apply its rate limit.

        Put it right under ``@bp.route`` so that nobody learns anything about the request
        body's validity without a key.
        """
        from .auth import require_key

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            wrapper: Any = require_key(scope)(func)
            wrapper._apidoc = deepcopy(getattr(wrapper, "_apidoc", {}))
            responses = wrapper._apidoc.setdefault("response", {}).setdefault("responses", {})
            for code in (401, 403, 429) if scope == "write" else (401, 429):
                responses.setdefault(code, []).append(http.HTTPStatus(code).name)
            return wrapper  # type: ignore[no-any-return]

        return decorator


def _page_url(page: int, per_page: int) -> str:
    """This request's URL with another ``page`` (and the same filters)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k not in {"page", "per_page"}]
    args += [("page", str(page)), ("per_page", str(per_page))]
    return f"{request.base_url}?{urlencode(args)}"
