"""The console's web application (Starlette + Jinja2): one route per page, each reading one environment through
the operator's own Target; approve/reject through the CLI's own call (the stack's operate route, audited in the
caller's name); refusals shown as "your role … may not …"; every asset served from the installed packages."""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from slipway.adapters import clients
from slipway.errors import NotFound, SlipwayError
from slipway_cli import features, promotion
from slipway_cli.console import compare, pages, runs_table
from slipway_cli.console.access import failure_text, refusal
from slipway_cli.console.history import BadQuery
from slipway_cli.target import Target

__all__ = ["create_app", "plotly_js"]

HERE = Path(__file__).parent
# Pages load only what the console serves: its own script and style, plotly's bundled script; no inline script.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'self'; "
    "base-uri 'none'"
)
# Parallel coordinates draw with WebGL through regl, which compiles its shaders' glue with `new Function`: the compare
# page alone allows eval (of scripts it loaded from the console itself).
CSP_EVAL = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'")
# An HTML artifact (model card, drift report) shown in place: its own styles, nothing else; no script runs.
ARTIFACT_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_reads: ContextVar[list[int] | None] = ContextVar("slipway_console_reads", default=None)


def plotly_js() -> Path:
    """plotly.min.js as the plotly package ships it (no CDN)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _count_requests(target: Target) -> None:
    """Count each request a page makes to DynamoDB (a query page, a get) and S3, in the page's counter."""
    for service in ("dynamodb", "s3"):
        client = clients.client(service, target.settings.region, target.endpoint_url, target.session)

        def counted(**_: Any) -> None:
            counter = _reads.get()
            if counter is not None:
                counter.append(1)

        client.meta.events.register(f"before-call.{client.meta.service_model.service_name}.*", counted)


class Console:
    """The routes over some environments (each a Target acting as the operator's profile for it)."""

    def __init__(self, targets: Mapping[str, Target], token: str | None = None) -> None:
        self.targets = dict(targets)
        self.token = token or secrets.token_urlsafe(32)  # the CSRF token every form carries
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]), trim_blocks=True
        )
        self.templates.globals.update(pretty=pages.pretty, quote=quote, urlencode=urlencode, link=_link)
        self.templates.filters["role"] = _role
        for target in self.targets.values():
            _count_requests(target)

    # ------------------------------------------------------------------ plumbing
    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        counter = _reads.get() or []
        started = getattr(request.state, "started", time.perf_counter())
        body = self.templates.get_template(name).render(
            request=request,
            envs=list(self.targets),
            token=self.token,
            reads=len(counter),
            elapsed_ms=(time.perf_counter() - started) * 1000,
            path=request.url.path,
            **context,
        )
        policy = CSP_EVAL if name in ("compare.html", "compare_runs.html") else CSP
        return HTMLResponse(body, status_code=status, headers={"Content-Security-Policy": policy})

    def target(self, env: str) -> Target:
        target = self.targets.get(env)
        if target is None:
            raise NotFound(f"the console was not started on {env!r} (slipway ui --env {env})", {"env": env})
        return target

    def attempt(self, env: str, doing: str, read: Callable[[], Any]) -> tuple[Any, dict[str, str] | None]:
        """``read()``, or (None, what to show instead): a refusal as "your role … may not …", another failure in
        one line."""
        try:
            return read(), None
        except (ClientError, BotoCoreError, SlipwayError) as e:
            return None, self.problem(env, doing, e)

    def problem(self, env: str, doing: str, error: BaseException) -> dict[str, str]:
        target = self.targets.get(env)
        principal = _principal(target) if target is not None else "?"
        refused = refusal(error, principal, doing)
        if refused is not None:
            return {"kind": "refused", "headline": refused.headline, "message": refused.message, "env": env}
        if isinstance(error, NotFound):
            return {"kind": "missing", "headline": error.message, "message": "", "env": env}
        if isinstance(error, BadQuery):
            return {"kind": "invalid", "headline": error.message, "message": "", "env": env}
        return {"kind": "failed", "headline": f"could not {doing}", "message": failure_text(error), "env": env}

    def page(self, request: Request, name: str, env: str, doing: str, read: Callable[[], Any], **context: Any) -> Any:
        data, problem = self.attempt(env, doing, read)
        if problem is not None:
            status = {"refused": 403, "missing": 404, "invalid": 400}.get(problem["kind"], 502)
            return self.render(request, "problem.html", status=status, problem=problem, env=env, **context)
        return self.render(request, name, env=env, data=data, **context)

    # ------------------------------------------------------------------ pages
    def home(self, request: Request) -> Response:
        return RedirectResponse("/models", status_code=302)

    def models(self, request: Request) -> Response:
        sections = []
        for env, target in self.targets.items():
            rows, problem = self.attempt(env, f"list the models of {env}", partial(pages.models_overview, target))
            sections.append({"env": env, "rows": rows or [], "problem": problem, "who": _principal(target)})
        return self.render(request, "models.html", sections=sections, title="Models")

    def model(self, request: Request) -> Response:
        env, model = request.path_params["env"], request.path_params["model"]
        before = _int(request.query_params.get("before"))
        metric = request.query_params.get("metric")
        cursors = {k: request.query_params.get(k) or None for k in pages.CURSORS}
        return self.page(  # type: ignore[no-any-return]
            request,
            "model_page.html",
            env,
            f"read {model} in {env}",
            lambda: pages.model_page(self.target(env), model, before=before, metric=metric, cursors=cursors),
            title=f"{model} in {env}",
            model=model,
        )

    def version(self, request: Request) -> Response:
        env, model, version = request.path_params["env"], request.path_params["model"], request.path_params["version"]
        return self.page(  # type: ignore[no-any-return]
            request,
            "version.html",
            env,
            f"read {model} v{version} in {env}",
            lambda: pages.version_page(
                self.target(env), model, int(version), [t for e, t in self.targets.items() if e != env]
            ),
            title=f"{model} v{version} in {env}",
            model=model,
        )

    def artifact(self, request: Request) -> Response:
        env, model, version = request.path_params["env"], request.path_params["model"], request.path_params["version"]
        name = request.path_params["name"]
        body, problem = self.attempt(
            env,
            f"read {name} of {model} v{version} in {env}",
            lambda: pages.artifact_bytes(self.target(env), model, int(version), name),
        )
        in_place = name.endswith(".html") and request.query_params.get("download") is None
        if problem is not None and in_place:  # the frame on the version page says why, as its content
            return self.render(request, "artifact_problem.html", problem=problem, env=env, title=name)
        if problem is not None:
            return self.render(request, "problem.html", status=403 if problem["kind"] == "refused" else 404,
                               problem=problem, env=env, title=name)  # fmt: skip
        if in_place:
            return HTMLResponse(body, headers={"Content-Security-Policy": ARTIFACT_CSP})
        filename = f"{model}-v{version}-{name}"
        return Response(
            body,
            media_type="text/html" if name.endswith(".html") else "application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    def drift_report(self, request: Request) -> Response:
        env, model, check = request.path_params["env"], request.path_params["model"], request.path_params["check"]
        body, problem = self.attempt(
            env,
            f"read the drift report {check} of {model} in {env}",
            lambda: pages.drift_report(self.target(env), model, check),
        )
        if problem is not None:
            return self.render(request, "problem.html", status=403 if problem["kind"] == "refused" else 404,
                               problem=problem, env=env, title="drift report")  # fmt: skip
        return HTMLResponse(body, headers={"Content-Security-Policy": ARTIFACT_CSP})

    def views(self, request: Request) -> Response:
        env = request.path_params["env"]
        return self.page(  # type: ignore[no-any-return]
            request,
            "views.html",
            env,
            f"list the feature views of {env}",
            lambda: features.views_list(self.target(env))[0],
            title=f"Feature views in {env}",
        )

    def view(self, request: Request) -> Response:
        env, view = request.path_params["env"], request.path_params["view"]

        def read() -> dict[str, Any]:
            value: dict[str, Any] = features.view_show(self.target(env), view)[0]
            spec = value["spec"]
            listed = [c for c in spec["columns"] if c["name"] not in spec["entity"] and c["name"] != spec["timestamp"]]
            return {**value, "features": listed}

        return self.page(  # type: ignore[no-any-return]
            request, "view.html", env, f"read feature view {view} in {env}", read, title=f"{view} in {env}"
        )

    def runs(self, request: Request) -> Response:
        env = request.path_params["env"]
        return self.page(  # type: ignore[no-any-return]
            request,
            "runs.html",
            env,
            f"list the runs in {env}",
            lambda: runs_table.runs_listing(self.target(env), runs_table.Filters.parse(request.query_params)),
            title=f"Runs in {env}",
        )

    def run(self, request: Request) -> Response:
        env, run_id = request.path_params["env"], request.path_params["run"]
        return self.page(  # type: ignore[no-any-return]
            request,
            "run.html",
            env,
            f"read run {run_id} in {env}",
            lambda: pages.run_page(self.target(env), run_id),
            title=f"Run {run_id}",
        )

    def compare_runs(self, request: Request) -> Response:
        env = request.path_params["env"]
        chosen = request.query_params.getlist("r")
        return self.page(  # type: ignore[no-any-return]
            request,
            "compare_runs.html",
            env,
            f"compare runs in {env}",
            lambda: compare.compare_runs(self.target(env), chosen),
            title=f"Compare runs in {env}",
        )

    def compare(self, request: Request) -> Response:
        env, model = request.path_params["env"], request.path_params["model"]
        versions = [int(v) for v in request.query_params.getlist("v") if v.isdigit()]
        return self.page(  # type: ignore[no-any-return]
            request,
            "compare.html",
            env,
            f"compare versions of {model} in {env}",
            lambda: compare.compare_page(self.target(env), model, versions),
            title=f"Compare {model} in {env}",
            model=model,
        )

    def approvals(self, request: Request, outcome: dict[str, Any] | None = None) -> Response:
        sections = []
        for env, target in self.targets.items():
            rows, problem = self.attempt(
                env, f"list the approvals in {env}", partial(pages.approvals, target, self.targets)
            )
            sections.append({"env": env, "rows": rows or [], "problem": problem, "who": _principal(target)})
        done = request.query_params.get("done")
        return self.render(request, "approvals.html", sections=sections, outcome=outcome, done=done, title="Approvals")

    async def answer(self, request: Request) -> Response:
        env, model = request.path_params["env"], request.path_params["model"]
        form = await request.form()
        if not self.same_origin(request) or not hmac.compare_digest(str(form.get("token", "")), self.token):
            return HTMLResponse("refused: a state-changing request must come from the console's own page", 403)
        decision, reason = str(form.get("decision", "")), str(form.get("reason", "")).strip()
        if decision not in ("approve", "reject") or not reason:
            outcome = {"kind": "failed", "headline": "say approve or reject, and why (the reason is kept)",
                       "message": "", "env": env}  # fmt: skip
            return self.approvals(request, outcome)
        target = self.target(env)
        answered, problem = self.attempt(
            env,
            f"{decision} the promotion of {model} in {env}",
            lambda: promotion.answer(target, model, decision == "approve", reason),
        )
        if problem is not None:  # the inbox again, saying why (the page itself is fine: 200, as a form's answer)
            return self.approvals(request, problem)
        said = f"{'approved' if answered['approved'] else 'rejected'} {model} v{answered.get('version')} in {env}"
        return RedirectResponse(f"/approvals?{urlencode({'done': said})}", status_code=303)

    def same_origin(self, request: Request) -> bool:
        """A browser's cross-site form post carries another Origin (or Sec-Fetch-Site: cross-site)."""
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return False
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin is None:
            return True  # not a browser's form post (a browser sends Origin on every POST)
        return urlsplit(origin).netloc == request.headers.get("host")

    def plotly(self, request: Request) -> Response:
        return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


def _role(principal: str) -> str:
    from slipway_cli.console.access import role_of

    return role_of(principal)


def _principal(target: Target) -> str:
    try:
        return target.principal
    except (ClientError, BotoCoreError):
        return "unknown caller"


def _link(request: Request, **changes: str | None) -> str:
    """This page's address with some query parameters changed (None: dropped), the others kept: a deep link."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    kept += [(k, v) for k, v in changes.items() if v is not None]
    return request.url.path + (f"?{urlencode(kept)}" if kept else "")


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def create_app(targets: Mapping[str, Target], *, token: str | None = None, hosts: tuple[str, ...] = ()) -> Starlette:
    """The console over ``targets`` (env → Target). Requests must name this machine (Host 127.0.0.1 or localhost,
    or one of ``hosts``): a page of another site cannot reach it by DNS rebinding."""
    console = Console(targets, token)
    routes = [
        Route("/", console.home),
        Route("/models", console.models),
        Route("/approvals", console.approvals),
        Route("/env/{env}/views", console.views),
        Route("/env/{env}/views/{view}", console.view),
        Route("/env/{env}/runs", console.runs),
        Route("/env/{env}/runs/compare", console.compare_runs),
        Route("/env/{env}/runs/{run}", console.run),
        Route("/env/{env}/models/{model}", console.model),
        Route("/env/{env}/models/{model}/compare", console.compare),
        Route("/env/{env}/models/{model}/approval", console.answer, methods=["POST"]),
        Route("/env/{env}/models/{model}/drift/{check}", console.drift_report),
        Route("/env/{env}/models/{model}/versions/{version:int}", console.version),
        Route("/env/{env}/models/{model}/versions/{version:int}/artifacts/{name}", console.artifact),
        Route("/static/plotly.min.js", console.plotly),
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    allowed = {"127.0.0.1", "localhost", *hosts}

    async def guard(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if (request.headers.get("host") or "").rpartition(":")[0] not in allowed:
            return Response("this console answers on 127.0.0.1 only", status_code=421)
        request.state.started = time.perf_counter()
        token = _reads.set([])
        try:
            response = await call_next(request)
        finally:
            _reads.reset(token)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app = Starlette(routes=routes, middleware=[Middleware(BaseHTTPMiddleware, dispatch=guard)])
    app.state.console = console
    return app
