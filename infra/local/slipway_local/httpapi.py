"""API Gateway HTTP API semantics, without a server: the routes a SAM template declares
(`Events` of `Type: HttpApi`), route selection as API Gateway does it, the payload format 2.0
event a request becomes, and how a Lambda result becomes the HTTP response."""

from __future__ import annotations

import base64
import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

IMPLICIT_API = "ServerlessHttpApi"  # SAM's logical id for the HTTP API of events without ApiId
DEFAULT_ROUTE = "$default"
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API request payload quota
MAX_LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous Lambda invoke, request and response

# API Gateway passes these bodies as text; any other content type (or none) arrives base64-encoded.
_TEXT_TYPES = ("application/json", "application/javascript", "application/xml")

NOT_FOUND = (404, {"message": "Not Found"})
TOO_LARGE = (413, {"message": "Request Entity Too Large"})
INTERNAL_ERROR = (500, {"message": "Internal Server Error"})


@dataclass(frozen=True)
class Route:
    """One route of one HTTP API: ``GET /v1/models/{model}`` → a function (its logical id)."""

    api: str  # logical id of the AWS::Serverless::HttpApi
    method: str  # GET, POST, … or ANY
    path: str  # "/v1/models/{model}", "/files/{proxy+}" or "$default"
    function: str  # logical id of the AWS::Serverless::Function
    authorization: str = "NONE"  # NONE or AWS_IAM (other authorizers are not realised locally)
    # The alias the integration invokes: SAM points a function's event sources at its AutoPublishAlias (the
    # integration URI and the invoke permission name the alias, not $LATEST); None - the function itself.
    qualifier: str | None = None

    @property
    def key(self) -> str:
        """The routeKey API Gateway puts in the event."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"


def _api_of(api_id: Any, function: str) -> str:
    if api_id is None:
        return IMPLICIT_API
    if isinstance(api_id, Mapping) and isinstance(api_id.get("Ref"), str):
        return str(api_id["Ref"])
    raise ValueError(f"{function}: HttpApi event ApiId must be !Ref of an AWS::Serverless::HttpApi, got {api_id!r}")


def _default_authorizer(template: Mapping[str, Any], api: str) -> str | None:
    resource = (template.get("Resources") or {}).get(api) or {}
    auth = (resource.get("Properties") or {}).get("Auth")
    if auth is None:
        auth = ((template.get("Globals") or {}).get("HttpApi") or {}).get("Auth") or {}
    default = auth.get("DefaultAuthorizer")
    return str(default) if default else None


def _authorization(route: str, event_auth: Any, default: str | None) -> str:
    authorizer = str((event_auth or {}).get("Authorizer") or default or "NONE")
    if authorizer not in ("NONE", "AWS_IAM"):
        raise NotImplementedError(f"{route}: authorizer {authorizer!r} is not realised by the local cloud")
    return authorizer


def http_api_routes(template: Mapping[str, Any]) -> dict[str, list[Route]]:
    """Every route the template's functions declare, grouped by HTTP API logical id, each with the
    authorization it gets (the event's ``Auth.Authorizer``, else its API's ``DefaultAuthorizer``)."""
    apis: dict[str, list[Route]] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        alias = (resource.get("Properties") or {}).get("AutoPublishAlias")
        if alias is not None and not isinstance(alias, str):
            raise NotImplementedError(f"{logical_id}: AutoPublishAlias {alias!r} (only a literal name is realised)")
        for name, event in ((resource.get("Properties") or {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api = _api_of(props.get("ApiId"), f"{logical_id}.Events.{name}")
            path, method = props.get("Path"), str(props.get("Method") or "ANY").upper()
            if path is None and "Method" in props:
                raise ValueError(f"{logical_id}.Events.{name}: an HttpApi event with a Method needs a Path")
            if path is None:  # SAM: no Path and no Method is the $default route
                path = DEFAULT_ROUTE
            if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                method = "ANY"
            key = DEFAULT_ROUTE if path == DEFAULT_ROUTE else f"{method} {path}"
            authorization = _authorization(key, props.get("Auth"), _default_authorizer(template, api))
            route = Route(api, method, str(path), logical_id, authorization, alias)
            routes = apis.setdefault(api, [])
            if any(r.key == route.key for r in routes):
                raise ValueError(f"route {route.key!r} of {api} is declared twice")
            routes.append(route)
    return apis


_VARIABLE = re.compile(r"\{([A-Za-z0-9_.-]+)(\+?)\}")


def _compile(path: str) -> tuple[re.Pattern[str], bool]:
    """A route path as a regex: ``{name}`` is one segment, ``{name+}`` (last) the rest of the path."""
    pattern, position, greedy = "", 0, False
    for match in _VARIABLE.finditer(path):
        pattern += re.escape(path[position : match.start()])
        if match.group(2):
            if match.end() != len(path):
                raise ValueError(f"greedy path variable must be last: {path}")
            greedy = True
            pattern += f"(?P<{_group(match.group(1))}>.+)"
        else:
            pattern += f"(?P<{_group(match.group(1))}>[^/]+)"
        position = match.end()
    return re.compile(pattern + re.escape(path[position:]) + r"\Z"), greedy


def _group(name: str) -> str:
    return "v_" + re.sub(r"[^A-Za-z0-9_]", lambda m: f"_{ord(m.group()):x}_", name)


class RouteTable:
    """Route selection as API Gateway does it: a full match of path and method, else a match with
    a greedy variable, else $default; a method route wins over ANY; nothing → 404."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[tuple[str, str], Route] = {}
        self._patterns: list[tuple[re.Pattern[str], Route, dict[str, str]]] = []
        self.default: Route | None = None
        ranked: list[tuple[tuple[int, int, int], re.Pattern[str], Route, dict[str, str]]] = []
        for route in routes:
            if route.path == DEFAULT_ROUTE:
                self.default = route
            elif "{" not in route.path:
                self._exact[(route.method, route.path)] = route
            else:
                pattern, greedy = _compile(route.path)
                names = {_group(m.group(1)): m.group(1) for m in _VARIABLE.finditer(route.path)}
                literal = len(_VARIABLE.sub("", route.path))
                ranked.append(((int(greedy), -literal, int(route.method == "ANY")), pattern, route, names))
        ranked.sort(key=lambda r: r[0])
        self._patterns = [(pattern, route, names) for _, pattern, route, names in ranked]

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        route = self._exact.get((method, path)) or self._exact.get(("ANY", path))
        if route is not None:
            return route, {}
        for pattern, candidate, names in self._patterns:
            if candidate.method not in (method, "ANY"):
                continue
            found = pattern.match(path)
            if found:
                return candidate, {names[g]: unquote(v) for g, v in found.groupdict().items()}
        return (self.default, {}) if self.default is not None else None


@dataclass(frozen=True)
class Request:
    """What the HTTP server read: the request line, the headers (repeats kept) and the body."""

    method: str
    target: str  # path and query, as on the request line
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    server_port: int = 443


def request_id() -> str:
    """An id shaped like API Gateway's (16 characters of base64)."""
    return base64.b64encode(os.urandom(11)).decode()


def _is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def http_event(
    request: Request,
    route: Route,
    path_parameters: Mapping[str, str],
    *,
    account_id: str,
    api_id: str,
    request_id: str,
    authorizer: dict[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends the route's function for this request.

    As on AWS: header names lower-cased, repeats joined with commas, cookies moved out of the
    headers into ``cookies``; repeated query parameters joined with commas; keys with nothing to
    carry (cookies, queryStringParameters, pathParameters, body, stageVariables) left out; text
    bodies passed as text, anything else base64-encoded."""
    now = time.time() if now is None else now
    raw_path, _, raw_query = request.target.partition("?")
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif lowered in headers:
            headers[lowered] += "," + value
        else:
            headers[lowered] = value
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers.setdefault("x-forwarded-port", str(request.server_port))
    headers.setdefault("x-forwarded-proto", "http")
    headers.setdefault("x-amzn-trace-id", f"Root=1-{int(now):08x}-{os.urandom(12).hex()}")
    domain = headers.get("host", f"127.0.0.1:{request.server_port}")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if raw_query:
        query: dict[str, str] = {}
        for key, value in parse_qsl(raw_query, keep_blank_values=True):
            query[key] = f"{query[key]},{value}" if key in query else value
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        **({"authorizer": authorizer} if authorizer else {}),
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.key,
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
        "timeEpoch": int(now * 1000),
    }
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    is_base64 = False
    if request.body:
        text = None
        if _is_text(headers.get("content-type")):
            try:
                text = request.body.decode()
            except UnicodeDecodeError:
                text = None
        is_base64 = text is None
        event["body"] = base64.b64encode(request.body).decode() if is_base64 else text
    event["isBase64Encoded"] = is_base64
    return event


@dataclass(frozen=True)
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def _json_response(status_and_body: tuple[int, dict[str, str]]) -> Response:
    status, body = status_and_body
    return Response(status, [("content-type", "application/json")], json.dumps(body, separators=(",", ":")).encode())


def error_response(status_and_body: tuple[int, dict[str, str]]) -> Response:
    """One of API Gateway's own answers (404, 413, 500)."""
    return _json_response(status_and_body)


def http_response(payload: str, is_error: bool) -> Response:
    """The HTTP response API Gateway makes of a Lambda result (payload format 2.0).

    A function error, a payload over Lambda's 6 MB or a malformed response is a 500
    ``Internal Server Error``; valid JSON without ``statusCode`` is a 200 ``application/json``
    whose body is the payload itself; otherwise statusCode, headers, cookies (one set-cookie each),
    body and isBase64Encoded are honoured."""
    if is_error or len(payload) > MAX_LAMBDA_PAYLOAD_BYTES:
        return _json_response(INTERNAL_ERROR)
    try:
        result = json.loads(payload)
    except ValueError:
        return _json_response(INTERNAL_ERROR)
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(200, [("content-type", "application/json")], payload.encode())
    try:
        return _structured(result)
    except (TypeError, ValueError):
        return _json_response(INTERNAL_ERROR)


def _structured(result: dict[str, Any]) -> Response:
    status = result["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"statusCode {status!r}")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if isinstance(value, (dict, list)):
            raise TypeError(f"header {name}")
        headers.append((str(name), value if isinstance(value, str) else json.dumps(value)))
    for cookie in result.get("cookies") or []:
        headers.append(("set-cookie", str(cookie)))
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise TypeError("body must be a string")
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body, validate=True)
    else:
        data = body.encode()
    return Response(status, headers, data)
