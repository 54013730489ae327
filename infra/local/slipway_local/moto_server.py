"""moto's threaded server, with the local cloud's injected faults applied to the requests it serves: the
calls that Lambda worker processes (and any other client of the server) make are refused — or, for an
``applied`` fault, performed and answered with the error — exactly as the botocore hook does for the
calls made inside this process."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from slipway_local.faults import INJECTOR, error_response

__all__ = ["LocalMotoServer", "operation_of"]

_SIGNING_TO_BOTOCORE = {"states": "sfn"}  # botocore names services by their endpoint prefix, not signing name
_CREDENTIAL = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
type WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _s3_operation(environ: dict[str, Any]) -> str:
    method, query = environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")
    has_key = "/" in environ.get("PATH_INFO", "").strip("/")
    if method == "GET":
        if "versions" in query.split("&"):
            return "ListObjectVersions"
        return "GetObject" if has_key else "ListObjectsV2"
    if method == "HEAD":
        return "HeadObject" if has_key else "HeadBucket"
    if method == "PUT":
        if environ.get("HTTP_X_AMZ_COPY_SOURCE"):
            return "CopyObject"
        return "UploadPart" if "partNumber=" in query else "PutObject"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query.split("&") else "CompleteMultipartUpload"
    return "DeleteObject" if method == "DELETE" else ""


def operation_of(environ: dict[str, Any]) -> tuple[str, str]:
    """(botocore service name, operation) of a request, as far as the faults need to know."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    service = _SIGNING_TO_BOTOCORE.get(match.group(1), match.group(1)) if match else ""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return service, target.rsplit(".", 1)[-1]
    return service, _s3_operation(environ) if service == "s3" else ""


def with_faults(app: WSGIApp) -> WSGIApp:
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        service, operation = operation_of(environ)
        fault = INJECTOR.take(service, operation, environ.get("HTTP_X_MOTO_ACCOUNT_ID")) if service else None
        if fault is None:
            return app(environ, start_response)
        if fault.applied:  # performed, then its answer lost
            for _ in app(environ, lambda *args, **kwargs: None):
                pass
        status, headers, body = error_response(fault)
        start_response(f"{status} Injected", list(headers.items()))
        return [body.encode()]

    return serve


class _QuietRequestHandler(MotoRequestHandler):
    """No access-log line per request (the workers' every AWS call would fill the demo's and the server's
    output); werkzeug still logs errors."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalMotoServer(ThreadedMotoServer):
    def _server_entry(self) -> None:
        app = with_faults(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_QuietRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
