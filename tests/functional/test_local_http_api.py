"""The local cloud's API Gateway (HTTP API, payload 2.0), driven with a real HTTP client: events of
the shape `sam local generate-event apigateway http-api-proxy` prints, API Gateway's route
selection, its 404/413/500 answers, the Lambda result mapped to HTTP, many clients at once, and
the template's own routes served for every environment."""

from __future__ import annotations

import base64
import functools
import http.client
import io
import json
import re
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from slipway_local import ACCOUNTS, LocalCloud
from slipway_local.gateway import HttpApiGateway
from slipway_local.httpapi import MAX_BODY_BYTES, http_api_routes
from slipway_local.lambda_runtime import FunctionSource
from slipway_local.packaging import load_sam_template

ECHO_CODE = Path(__file__).parent / "http_echo"

# What `sam local generate-event apigateway http-api-proxy` prints (aws-sam-cli 1.170.0), minus
# `authentication` and `authorizer`, which API Gateway sends only with mTLS or an authorizer.
SAM_SAMPLE: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/path/to/resource",
    "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
    "cookies": ["cookie1", "cookie2"],
    "headers": {"Header1": "value1", "Header2": "value1,value2"},
    "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "api-id",
        "domainName": "id.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "id",
        "http": {
            "method": "POST",
            "path": "/path/to/resource",
            "protocol": "HTTP/1.1",
            "sourceIp": "192.168.0.1/32",
            "userAgent": "agent",
        },
        "requestId": "id",
        "routeKey": "$default",
        "stage": "$default",
        "time": "12/Mar/2020:19:03:58 +0000",
        "timeEpoch": 1583348638390,
    },
    "body": "eyJ0ZXN0IjoiYm9keSJ9",
    "pathParameters": {"parameter1": "value1"},
    "isBase64Encoded": True,
    "stageVariables": {"stageVariable1": "value1", "stageVariable2": "value2"},
}

ECHO_TEMPLATE: dict[str, Any] = {
    "Resources": {
        "EchoApi": {"Type": "AWS::Serverless::HttpApi"},
        "EchoFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Handler": "app.lambda_handler",
                "Events": {
                    "Default": {"Type": "HttpApi", "Properties": {"ApiId": {"Ref": "EchoApi"}}},
                    "Item": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "EchoApi"}, "Path": "/items/{id}", "Method": "get"},
                    },
                    "Special": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "EchoApi"}, "Path": "/items/special", "Method": "GET"},
                    },
                    "Files": {
                        "Type": "HttpApi",
                        "Properties": {"ApiId": {"Ref": "EchoApi"}, "Path": "/files/{proxy+}", "Method": "ANY"},
                    },
                    "Private": {
                        "Type": "HttpApi",
                        "Properties": {
                            "ApiId": {"Ref": "EchoApi"},
                            "Path": "/private/{proxy+}",
                            "Method": "POST",
                            "Auth": {"Authorizer": "AWS_IAM"},
                        },
                    },
                },
            },
        },
    }
}


def _zip(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(directory / "app.py", "app.py")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def echo_url(cloud: LocalCloud) -> Iterator[str]:
    """A function deployed in dev whose handler echoes its event, behind an HTTP API of its own."""
    account = ACCOUNTS["dev"]
    role = cloud.admin_client("iam", "dev").create_role(
        RoleName="http-echo",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]
    cloud.admin_client("lambda", "dev").create_function(
        FunctionName="http-echo",
        Runtime="python3.13",
        Role=role,
        Handler="app.lambda_handler",
        Code={"ZipFile": _zip(ECHO_CODE)},
    )
    cloud.runtime.register(account, "http-echo", FunctionSource("EchoFunction", ECHO_CODE, "app.lambda_handler"))
    gateway = HttpApiGateway(
        http_api_routes(ECHO_TEMPLATE)["EchoApi"],
        {"EchoFunction": "http-echo"},
        functools.partial(cloud.runtime.invoke_function, account),
        account_id=account,
        api_id="echoapi1",
    ).start()
    try:
        yield gateway.url
    finally:
        gateway.stop()


def _request(
    url: str,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def _signed(cloud: LocalCloud, env: str, method: str, url: str, body: bytes = b"") -> list[tuple[str, str]]:
    return list(cloud.signed_headers(env, method, url, body).items())


def _echoed(url: str, method: str, target: str, **kwargs: Any) -> dict[str, Any]:
    status, _, body = _request(url, method, target, **kwargs)
    assert status == 200, body
    return json.loads(body)  # type: ignore[no-any-return]


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: what must agree with the sample."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


def test_a_request_becomes_an_event_shaped_like_sams_sample(echo_url: str) -> None:
    # GIVEN the request the sam sample describes (repeated header and query parameter, two cookies)
    port = urlsplit(echo_url).port
    event = _echoed(
        echo_url,
        "POST",
        "/path/to/resource?parameter1=value1&parameter1=value2&parameter2=value",
        body=b'{"test":"body"}',
        headers=[
            ("Header1", "value1"),
            ("Header2", "value1"),
            ("Header2", "value2"),
            ("Cookie", "cookie1; cookie2"),
            ("User-Agent", "agent"),
        ],
    )

    # THEN every field of the sample is there with the same type, and nothing else but what
    # API Gateway adds (no authorizer, no stage variables and no path parameters on $default)
    expected = _shape(SAM_SAMPLE)
    del expected["stageVariables"], expected["pathParameters"]
    expected["headers"] = _shape(event["headers"])
    assert _shape(event) == expected
    # AND the values are API Gateway's: raw path and query, lower-case headers with repeats joined,
    # cookies moved out of the headers, the body (no content type) base64-encoded
    for field in ("version", "routeKey", "rawPath", "rawQueryString", "cookies", "queryStringParameters", "body"):
        assert event[field] == SAM_SAMPLE[field], field
    assert event["isBase64Encoded"] is True
    assert {"header1": "value1", "header2": "value1,value2"}.items() <= event["headers"].items()
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["headers"]["host"] == f"127.0.0.1:{port}"
    context = event["requestContext"]
    assert context["accountId"] == ACCOUNTS["dev"] and context["apiId"] == "echoapi1"
    assert (context["domainName"], context["domainPrefix"]) == (f"127.0.0.1:{port}", "127")
    assert context["http"] == {
        "method": "POST",
        "path": "/path/to/resource",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "agent",
    }
    assert (context["routeKey"], context["stage"]) == ("$default", "$default")
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"])
    assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"])


def test_json_bodies_are_text_and_path_parameters_are_filled(echo_url: str) -> None:
    event = _echoed(echo_url, "GET", "/items/a%20b", body=b'{"x": 1}', headers=[("Content-Type", "application/json")])
    assert (event["routeKey"], event["pathParameters"]) == ("GET /items/{id}", {"id": "a b"})
    assert (event["body"], event["isBase64Encoded"]) == ('{"x": 1}', False)
    assert "queryStringParameters" not in event and "cookies" not in event


def test_routes_are_selected_as_api_gateway_does(echo_url: str) -> None:
    # a literal route wins over a path variable, a greedy variable takes the rest, $default the others
    assert _echoed(echo_url, "GET", "/items/special")["routeKey"] == "GET /items/special"
    files = _echoed(echo_url, "DELETE", "/files/a/b/c.txt")
    assert (files["routeKey"], files["pathParameters"]) == ("ANY /files/{proxy+}", {"proxy": "a/b/c.txt"})
    assert _echoed(echo_url, "POST", "/items/1")["routeKey"] == "$default"  # GET route, POST request


def test_unknown_routes_get_api_gateways_404(cloud: LocalCloud) -> None:
    # GIVEN the template's API (no $default route) WHEN a path or a method it does not declare
    for method, target in (("GET", "/nothing/here"), ("DELETE", "/health"), ("GET", "/v1/models/churn/predict")):
        status, headers, body = _request(cloud.api_url("dev"), method, target)
        # THEN 404 with API Gateway's own body
        assert (status, body) == (404, b'{"message":"Not Found"}'), target
        assert headers["content-type"] == "application/json" and headers["apigw-requestid"]


def test_a_body_over_10_mb_gets_413_without_being_read(echo_url: str) -> None:
    parts = urlsplit(echo_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        # GIVEN only the headers of a request announcing 10 MB + 1 byte
        connection.putrequest("POST", "/files/upload")
        connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
        connection.endheaders()
        response = connection.getresponse()
        # THEN API Gateway's 413 comes back at once, and the connection is closed
        assert (response.status, response.read()) == (413, b'{"message":"Request Entity Too Large"}')
        assert response.headers["connection"] == "close"
    finally:
        connection.close()


def test_an_event_over_lambdas_6_mb_gets_413_and_a_large_one_passes(echo_url: str) -> None:
    status, _, body = _request(echo_url, "POST", "/files/size", body=b"x" * (7 * 1024 * 1024))
    assert (status, body) == (413, b'{"message":"Request Entity Too Large"}')
    status, _, body = _request(echo_url, "POST", "/files/size", body=b"x" * 3_000_000)
    assert (status, body) == (200, str(len(base64.b64encode(b"x" * 3_000_000))).encode())


def test_a_handler_error_is_a_500(echo_url: str) -> None:
    status, _, body = _request(echo_url, "GET", "/files/boom")
    assert (status, body) == (500, b'{"message":"Internal Server Error"}')


@pytest.mark.parametrize(
    ("result", "status", "headers", "body"),
    [
        ({"ok": True}, 200, {"content-type": "application/json"}, b'{"ok": true}'),
        ([1, 2], 200, {"content-type": "application/json"}, b"[1, 2]"),
        ({"statusCode": 201, "headers": {"x-a": "1"}, "body": "made"}, 201, {"x-a": "1"}, b"made"),
        ({"statusCode": 200, "body": "AAE=", "isBase64Encoded": True}, 200, {}, b"\x00\x01"),
        ({"statusCode": 204}, 204, {}, b""),
        ({"statusCode": "teapot", "body": "x"}, 500, {}, b'{"message":"Internal Server Error"}'),
        ({"statusCode": 200, "body": {"not": "a string"}}, 500, {}, b'{"message":"Internal Server Error"}'),
    ],
)
def test_the_lambda_result_maps_to_http_as_payload_2_0(
    echo_url: str, result: Any, status: int, headers: dict[str, str], body: bytes
) -> None:
    got_status, got_headers, got_body = _request(
        echo_url, "POST", "/files/raw", body=json.dumps(result).encode(), headers=[("Content-Type", "application/json")]
    )
    assert (got_status, got_body) == (status, body)
    assert headers.items() <= dict(got_headers.items()).items()


def test_cookies_become_one_set_cookie_header_each(echo_url: str) -> None:
    result = {"statusCode": 200, "cookies": ["a=1; Path=/", "b=2"], "body": ""}
    _, headers, _ = _request(
        echo_url, "POST", "/files/raw", body=json.dumps(result).encode(), headers=[("Content-Type", "application/json")]
    )
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]


def test_many_clients_at_once_each_get_their_own_answer(echo_url: str) -> None:
    # GIVEN 16 clients, each on its own keep-alive connection, sending 40 requests
    def client(n: int) -> list[str]:
        parts = urlsplit(echo_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        seen = []
        try:
            for i in range(40):
                connection.request("GET", f"/items/{n}-{i}")
                response = connection.getresponse()
                assert response.status == 200
                seen.append(json.loads(response.read())["pathParameters"]["id"])
        finally:
            connection.close()
        return seen

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(client, range(16)))
    # THEN every request was answered, with its own event
    assert answers == [[f"{n}-{i}" for i in range(40)] for n in range(16)]


def test_every_environment_serves_the_templates_routes(cloud: LocalCloud) -> None:
    # GIVEN the routes the SAM template declares for its HTTP API
    routes = http_api_routes(load_sam_template())["HttpApi"]
    assert {r.key for r in routes} >= {"POST /v1/models/{model}/predict", "GET /health", "GET /openapi.json"}
    assert {r.authorization for r in routes} == {"AWS_IAM"}
    for env, environment in cloud.environments.items():
        # THEN each environment serves them on its own URL, which its stack output names
        url = cloud.api_url(env)
        assert environment.outputs["HttpApiUrl"] == url
        described = cloud.admin_client("cloudformation", env).describe_stacks(StackName=environment.stack_name)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}
        assert outputs["HttpApiUrl"] == url
        status, _, body = _request(url, "GET", "/health", headers=_signed(cloud, env, "GET", f"{url}/health"))
        assert status == 200, body
    assert len({cloud.api_url(env) for env in cloud.environments}) == len(cloud.environments)


def test_routes_from_a_template() -> None:
    implicit = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Events": {"Any": {"Type": "HttpApi"}, "Other": {"Type": "Schedule"}}},
            }
        }
    }
    assert [r.key for r in http_api_routes(implicit)["ServerlessHttpApi"]] == ["$default"]
    twice = {"Type": "HttpApi", "Properties": {"Path": "/a", "Method": "GET"}}
    duplicated = {
        "Resources": {
            "A": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"One": twice}}},
            "B": {"Type": "AWS::Serverless::Function", "Properties": {"Events": {"Two": twice}}},
        }
    }
    with pytest.raises(ValueError, match="declared twice"):
        http_api_routes(duplicated)
    # the API's DefaultAuthorizer applies unless the event names its own; JWT is not realised
    authorized = {
        "Resources": {
            "Api": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Auth": {"DefaultAuthorizer": "AWS_IAM"}}},
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Events": {
                        "Private": {
                            "Type": "HttpApi",
                            "Properties": {"ApiId": {"Ref": "Api"}, "Path": "/p", "Method": "GET"},
                        },
                        "Open": {
                            "Type": "HttpApi",
                            "Properties": {
                                "ApiId": {"Ref": "Api"},
                                "Path": "/o",
                                "Method": "GET",
                                "Auth": {"Authorizer": "NONE"},
                            },
                        },
                    }
                },
            },
        }
    }
    assert {r.path: r.authorization for r in http_api_routes(authorized)["Api"]} == {"/p": "AWS_IAM", "/o": "NONE"}
    authorized["Resources"]["Api"]["Properties"]["Auth"]["DefaultAuthorizer"] = "MyJwt"
    with pytest.raises(NotImplementedError, match="MyJwt"):
        http_api_routes(authorized)


def test_iam_routes_want_a_signature_from_a_principal_of_the_apis_account(cloud: LocalCloud, echo_url: str) -> None:
    url, body = f"{echo_url}/private/thing", b'{"rows": 1}'
    # GIVEN a route whose authorizer is AWS_IAM WHEN the request is not signed THEN 403 Forbidden
    status, _, answer = _request(echo_url, "POST", "/private/thing", body=body)
    assert (status, answer) == (403, b'{"message":"Forbidden"}')

    # WHEN the dev operator signs it THEN the function runs and sees who called
    status, _, answer = _request(
        echo_url, "POST", "/private/thing", body=body, headers=_signed(cloud, "dev", "POST", url, body)
    )
    assert status == 200, answer
    iam = json.loads(answer)["requestContext"]["authorizer"]["iam"]
    caller = cloud.client("sts", "dev").get_caller_identity()
    assert (iam["userArn"], iam["accountId"], iam["userId"]) == (caller["Arn"], ACCOUNTS["dev"], caller["UserId"])
    assert iam["accessKey"] == cloud.environments["dev"].access_key_id

    # WHEN the body is changed after signing THEN the signature does not match
    status, _, answer = _request(
        echo_url, "POST", "/private/thing", body=b'{"rows": 2}', headers=_signed(cloud, "dev", "POST", url, body)
    )
    assert status == 403 and b"signature we calculated does not match" in answer

    # WHEN staging's operator signs it (another account) THEN its keys are unknown to the API's account
    status, _, answer = _request(
        echo_url, "POST", "/private/thing", body=body, headers=_signed(cloud, "staging", "POST", url, body)
    )
    assert (status, json.loads(answer)["message"]) == (403, "The security token included in the request is invalid.")


def test_iam_routes_check_execute_api_invoke_in_the_callers_policies(cloud: LocalCloud, echo_url: str) -> None:
    # GIVEN a dev user allowed to invoke only GET routes of the API
    iam = cloud.admin_client("iam", "dev")
    iam.create_user(UserName="http-reader")
    iam.put_user_policy(
        UserName="http-reader",
        PolicyName="get-only",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:*/*/GET/*"}
                ],
            }
        ),
    )
    key = iam.create_access_key(UserName="http-reader")["AccessKey"]
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url, body = f"{echo_url}/private/thing", b"{}"
    request = AWSRequest(method="POST", url=url, data=body)
    SigV4Auth(Credentials(key["AccessKeyId"], key["SecretAccessKey"]), "execute-api", "us-east-1").add_auth(request)
    # WHEN it POSTs THEN 403 naming the user, the action and the route's ARN
    status, _, answer = _request(echo_url, "POST", "/private/thing", body=body, headers=list(request.headers.items()))
    assert status == 403
    assert json.loads(answer)["message"] == (
        f"User: arn:aws:iam::{ACCOUNTS['dev']}:user/http-reader is not authorized to perform: execute-api:Invoke"
        " on resource: arn:aws:execute-api:us-east-1:111111111111:echoapi1/$default/POST/private/thing"
    )
