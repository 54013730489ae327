"""The local API Gateway: each HTTP API of each environment served on its own port of 127.0.0.1,
turning requests into payload format 2.0 events for the route's function, run in-process.

One server per (environment, HTTP API), on a free port, so that paths are exactly the API's
(``curl $URL/v1/models/churn/predict`` as on AWS). The stack output that names the API's
``execute-api`` URL is pointed at the local server, so ``describe-stacks`` finds it there.

Routes whose authorizer is AWS_IAM (the API's DefaultAuthorizer or the event's) want SigV4-signed
requests, checked as slipway_local.apiauth says.

What API Gateway does that this does not: JWT and Lambda authorizers (refused at start), throttling and usage
quotas, CORS configuration, custom domains and API mappings, stages other than ``$default`` and
stage variables, access logs and metrics, parameter mapping, the 30 s integration timeout and
Lambda's function timeout (a slow handler runs to the end), payload format 1.0, non-Lambda
integrations, routes declared only in an OpenAPI ``DefinitionBody``, TLS, and HTTP/2."""

from __future__ import annotations

import email.utils
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slipway_local.apiauth import Denied, authorize_iam
from slipway_local.httpapi import (
    MAX_BODY_BYTES,
    MAX_LAMBDA_PAYLOAD_BYTES,
    NOT_FOUND,
    TOO_LARGE,
    Request,
    Response,
    Route,
    RouteTable,
    error_response,
    http_event,
    http_response,
    request_id,
)

logger = logging.getLogger(__name__)

_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection"})  # the gateway's own to set
Invoke = Callable[[str, dict[str, Any]], tuple[str, bool]]  # (function name, event) -> (payload, is_error)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connecting at once must not wait on SYN retries

    def __init__(self, address: tuple[str, int], gateway: HttpApiGateway) -> None:
        self.gateway = gateway
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        # Without it, a response written after the request's last packet waits ~40 ms (Nagle + delayed ACK).
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, address


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive connections
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug(format, *args)

    def handle_expect_100(self) -> bool:
        if self._declared_length() > MAX_BODY_BYTES:  # refuse before the client sends the body
            self._send(error_response(TOO_LARGE), request_id(), close=True)
            return False
        return super().handle_expect_100()

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over API Gateway's 10 MB."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(65537)
                length = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                size += length
                if size > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline(3)
        length = self._declared_length()
        if length > MAX_BODY_BYTES:
            return None
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        rid = request_id()
        try:
            body = self._read_body()
        except ValueError:  # a malformed chunk size
            self._send(error_response((400, {"message": "Bad Request"})), rid, close=True)
            return
        if body is None:
            self._send(error_response(TOO_LARGE), rid, close=True)
            return
        gateway = self.server.gateway
        path = self.path.partition("?")[0]
        matched = gateway.routes.match(self.command, path)
        if matched is None:
            self._send(error_response(NOT_FOUND), rid)
            return
        route, parameters = matched
        request = Request(
            self.command,
            self.path,
            self.headers.items(),
            body,
            self.client_address[0],
            self.request_version,
            self.server.server_address[1],
        )
        authorizer = None
        if route.authorization == "AWS_IAM":
            try:
                authorizer = {
                    "iam": authorize_iam(
                        request, region=gateway.region, account_id=gateway.account_id, api_id=gateway.api_id
                    )
                }
            except Denied as denied:
                self._send(error_response(denied.response), rid)
                return
        event = http_event(
            request,
            route,
            parameters,
            account_id=gateway.account_id,
            api_id=gateway.api_id,
            request_id=rid,
            authorizer=authorizer,
        )
        if len(body) > MAX_LAMBDA_PAYLOAD_BYTES * 3 // 4 and gateway.event_size(event) > MAX_LAMBDA_PAYLOAD_BYTES:
            self._send(error_response(TOO_LARGE), rid)  # Lambda refuses a synchronous event over 6 MB
            return
        function = gateway.functions[route.function]
        if route.qualifier:  # the integration names an alias (AutoPublishAlias): invoke the version it points at
            function = f"{function}:{route.qualifier}"
        try:
            payload, is_error = gateway.invoke(function, event)
        except Exception:  # the runtime itself failed (the handler's own errors come back as is_error)
            logger.exception("invoking %s for %s", route.function, route.key)
            payload, is_error = "", True
        if is_error and payload:  # on AWS this is in the function's log group; here it goes to the log
            error = json.loads(payload)
            logger.warning("%s (%s): %s: %s", route.key, route.function, error["errorType"], error["errorMessage"])
        self._send(http_response(payload, is_error), rid)

    def _send(self, response: Response, rid: str, *, close: bool = False) -> None:
        """Status line, headers and body in one write (one segment for small answers)."""
        reason = HTTPStatus(response.status).phrase if response.status in HTTPStatus._value2member_map_ else ""
        lines = [f"HTTP/1.1 {response.status} {reason}", f"date: {email.utils.formatdate(usegmt=True)}"]
        lines += [f"{name}: {value}" for name, value in response.headers if name.lower() not in _HOP_BY_HOP]
        lines += [f"content-length: {len(response.body)}", f"apigw-requestid: {rid}"]
        if close:
            lines.append("connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class HttpApiGateway:
    """One HTTP API of one environment on 127.0.0.1: routes → function names → ``invoke``."""

    def __init__(
        self,
        routes: Iterable[Route],
        functions: dict[str, str],  # route function logical id -> deployed function name
        invoke: Invoke,
        *,
        account_id: str,
        api_id: str,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.routes = RouteTable(routes)
        self.functions = functions
        self.invoke = invoke
        self.account_id = account_id
        self.api_id = api_id
        self.region = region
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self.url = f"http://{host}:{self._server.server_address[1]}"

    @staticmethod
    def event_size(event: dict[str, Any]) -> int:
        return len(json.dumps(event))

    def start(self) -> HttpApiGateway:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name=f"http-api-{self.url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
