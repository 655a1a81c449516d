"""OpenAI's error shape for every failure: ``{"error": {"message", "type", "param", "code"}}``
with a 4xx/5xx status (FastAPI's default would be a 422 in its own format)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from repoloom.inference.base import BackendError

log = logging.getLogger("repoloom.serve.app")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type_,
            param,
            code,
        )

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        body = self.body()
        headers = {"Retry-After": "1"} if self.status == 503 else None
        return JSONResponse(body, status_code=self.status, headers=headers)


def validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    loc = ".".join(str(x) for x in first.get("loc", ()))
    msg = f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    if len(exc.errors()) > 1:
        msg += f" (and {len(exc.errors()) - 1} more)"
    return ApiError(400, msg, param=loc or None, code="invalid_value")


def backend_error(exc: BackendError) -> ApiError:
    err = (exc.body or {}).get("error") if isinstance(exc.body, dict) else None
    if isinstance(err, dict):
        return ApiError(
            exc.status,
            str(err.get("message") or exc),
            str(err.get("type") or "upstream_error"),
            err.get("param"),
            err.get("code"),
        )
    kind = "server_error" if exc.status >= 500 else "invalid_request_error"
    return ApiError(exc.status, str(exc), kind)


def install_error_handlers(app: FastAPI) -> None:
    """Answer ApiError, HTTP errors (404, 405, ...) and crashes in OpenAI's shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return ApiError(exc.status_code, str(exc.detail), kind).response()

    @app.exception_handler(Exception)
    async def _crash(_: Request, exc: Exception) -> JSONResponse:
        log.exception("request failed")
        return ApiError(500, f"internal error: {type(exc).__name__}", "server_error").response()
