"""How the controller API answers what went wrong: ``{"error": ...}`` with the field named,
never a traceback, an exception's repr or the value that was refused.

A request that does not fit its model: 404 for a malformed id in the path (no such run or
schedule), 400 for a query parameter or a body that is not JSON, 422 for a JSON body with
a field of the wrong type, size or content. Errors the platform raises on purpose map to
their status (an invalid experiment 400 with every located problem, unknown 404, a run
that already ended 409, the store down 503); anything else is a bug: 500 with a generic
message, and the details go to the log.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from chaos.errors import ChaosError, NotFoundError, SpecError, StateConflict, StoreError, UsageError
from chaos.service.models import Error

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Error} for status in (400, 401, 403, 404, 409, 413, 422, 503)
}


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(ChaosError, _chaos_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _bug)


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    places = {error["loc"][0] if error["loc"] else "body" for error in errors}
    # the message of each problem and where, never its "input" (it may be huge or secret)
    issues = [f"{_field(error['loc'])}: {error['msg']}" for error in errors]
    if "path" in places:
        return JSONResponse({"error": "no such resource: malformed id"}, 404)
    if any(error["type"] == "json_invalid" for error in errors):
        return JSONResponse({"error": "the request body is not valid JSON"}, 400)
    status = 422 if places == {"body"} else 400
    return JSONResponse(
        {"error": "invalid request: " + "; ".join(issues), "issues": issues}, status
    )


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    messages = {404: "no such route", 405: "method not allowed on this route"}
    message = messages.get(exc.status_code, "invalid request")
    headers = dict(exc.headers) if exc.headers else None
    return JSONResponse({"error": message}, exc.status_code, headers=headers)


async def _chaos_error(request: Request, exc: ChaosError) -> JSONResponse:
    if isinstance(exc, SpecError):
        issues = [str(issue) for issue in exc.issues]
        return JSONResponse({"error": "invalid experiment", "issues": issues}, 400)
    if isinstance(exc, UsageError):
        status = {NotFoundError: 404, StateConflict: 409}.get(type(exc), 400)
        return JSONResponse({"error": exc.message}, status)
    if isinstance(exc, StoreError):
        return JSONResponse({"error": str(exc)}, 503)  # written to be read: no secrets
    log.warning("refused %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse({"error": str(exc)}, 422)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "internal error; see the controller's log"}, 500)
