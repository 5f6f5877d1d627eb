"""The dashboard's routes: pages, their live fragments, /metrics and the actions.

    /                   the fleet (live)            /deploys            the history, by outcome
    /deploys/<id>       one deploy: timeline, the judge's evidence, notifications
    /releases           the ledger                  /metrics            Prometheus
    POST /actions/<verb>  pause, resume, abort, promote, rollback, maintenance-on, maintenance-off
    /login, /logout     a browser's session for the actions

Every handler is a plain function run in Starlette's thread pool: the history reads and the
actions block, the event loop does not.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate as gate_lib
from orchestrator.control import gatekeeper as control
from orchestrator.control import maintenance as maintenance_lib
from orchestrator.dashboard import actions as actions_lib
from orchestrator.dashboard import evidence, metrics, timeline
from orchestrator.dashboard.fleet_feed import FleetFeed
from orchestrator.dashboard.records import PAGE_SIZE, Records, report_json
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.records.ledger import RELEASE_STATUSES
from orchestrator.records.lock import DeployLock

OUTCOMES = ("running", "deployed", "failed", "rejected", "interrupted", "unchanged")
MAX_FORM = 16_384


@dataclass(frozen=True)
class Site:
    """What one dashboard serves."""

    inventory: Path
    state_dir: Path
    config_path: Path | None
    token: str | None  # None: read-only
    refresh: float = 5.0  # seconds between readings of the fleet


class Pages:
    """The dashboard's pages and endpoints, each a method over what they share: the state directory's
    records, the fleet feed, the gatekeeper of actions and the templates."""

    def __init__(self, site: Site, feed: FleetFeed | None = None):
        self.site = site
        self.feed = feed or FleetFeed(site.inventory, site.state_dir, refresh=site.refresh)
        self.records = Records(self.site.state_dir)
        self.keeper = actions_lib.Gatekeeper(self.site.token)
        self.registry = metrics.registry(self.site.state_dir, self.feed)
        self.env = Environment(
            loader=PackageLoader("orchestrator.dashboard"),
            autoescape=select_autoescape(),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["clock"] = _clock
        self.env.filters["ago"] = _ago
        self.env.filters["secs"] = _secs
        self.fleet = actions_lib.Fleet(self.site.inventory, self.site.state_dir, self.site.config_path)

    def page(self, request: Request, name: str, code: int = 200, **context) -> HTMLResponse:
        cookie = request.cookies.get(actions_lib.COOKIE)
        html = self.env.get_template(name).render(
            request=request,
            signed_in=self.keeper.session_name(cookie),
            actions_on=self.keeper.enabled,
            csrf=self.keeper.csrf_for(cookie),
            state_dir=self.site.state_dir,
            **context,
        )
        return HTMLResponse(html, status_code=code)

    # --- the fleet ---

    def fleet_context(self) -> dict:
        reading = self.feed.latest()
        holder = DeployLock(self.site.state_dir).held_by()
        gate = control.current(self.site.state_dir)
        running = self.records.running() if holder else None
        status = reading.status
        lbs = sorted({lb for n in status.nodes for lb in n.haproxy}) if status else []
        phases = {n["node"]: n["outcome"] for n in running.nodes} if running else {}
        return dict(
            reading=reading,
            status=status,
            lbs=lbs,
            holder=holder,
            gate=gate if gate and gate.get("waiting") else None,
            gate_text=gate_lib.describe(gate) if gate and gate.get("waiting") else "",
            running=running,
            phases=phases,
            last=self.records.last(),
            cut_short=self.records.history().cut_short(),
            maintenance=maintenance_lib.recorded(self.site.state_dir),
            now=time.time(),
        )

    def fleet_page(self, request: Request) -> Response:
        return self.page(request, "fleet.html", **self.fleet_context())

    def fleet_fragment(self, request: Request) -> Response:
        return self.page(request, "fleet_live.html", **self.fleet_context())

    # --- deploys ---

    def deploys_page(self, request: Request) -> Response:
        outcome = request.query_params.get("outcome") or None
        if outcome is not None and outcome not in OUTCOMES:
            raise HTTPException(404, f"no such outcome {outcome!r}: choose one of {', '.join(OUTCOMES)}")
        before = _int(request.query_params.get("before"))
        rows = self.records.deploy_rows(outcome=outcome, before=before)
        return self.page(
            request,
            "deploys.html",
            rows=rows,
            outcome=outcome,
            outcomes=self.records.outcomes(),
            older=rows[-1].id if len(rows) == PAGE_SIZE else None,
            now=time.time(),
        )

    def deploy_context(self, deploy_id: int) -> dict:
        record = self.records.deploy(deploy_id)
        if record is None:
            raise HTTPException(404, f"there is no deploy #{deploy_id} in the history of {self.site.state_dir}")
        reports = self.records.reports(deploy_id)
        judged = [
            dict(
                node=v.node,
                verdict=v.verdict,
                sentence=evidence.sentence(v.report),
                report=v.report,
                charts=report_json(evidence.charts(v.report)),
                metrics=list(v.report.get("metrics") or []),
            )
            for v in reports
        ]
        live = record.outcome == "running" and DeployLock(self.site.state_dir).held_by() is not None
        return dict(record=record, timeline=timeline.build(record), judged=judged, live=live, now=time.time())

    def deploy_page(self, request: Request) -> Response:
        return self.page(request, "deploy.html", **self.deploy_context(request.path_params["deploy_id"]))

    def deploy_fragment(self, request: Request) -> Response:
        return self.page(request, "deploy_live.html", **self.deploy_context(request.path_params["deploy_id"]))

    def releases_page(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status is not None and status not in RELEASE_STATUSES:
            raise HTTPException(404, f"no such standing {status!r}: choose one of {', '.join(RELEASE_STATUSES)}")
        offset = _int(request.query_params.get("offset")) or 0
        releases = self.records.releases(status=status, offset=offset)
        return self.page(
            request,
            "releases.html",
            releases=releases,
            status=status,
            statuses=RELEASE_STATUSES,
            older=offset + PAGE_SIZE if len(releases) == PAGE_SIZE else None,
        )

    def metrics_endpoint(self, request: Request) -> Response:
        self.records.history()  # an unreadable state directory is said, and an old schema brought up to date, first
        return Response(metrics.scrape(self.registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    # --- sign-in and actions ---

    def login_page(self, request: Request) -> Response:
        return self.page(request, "login.html", error=None)

    async def login(self, request: Request) -> Response:
        form = await _form(request)
        try:
            cookie = self.keeper.session_for(form.get("token", ""), form.get("name", ""))
        except actions_lib.Refused as exc:
            return self.page(request, "login.html", code=exc.status, error=str(exc))
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(actions_lib.COOKIE, cookie, httponly=True, samesite="strict", max_age=12 * 3600)
        return response

    def logout(self, request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(actions_lib.COOKIE)
        return response

    async def action(self, request: Request) -> Response:
        verb = request.path_params["verb"]
        if verb not in actions_lib.VERBS:
            raise HTTPException(404, f"no action {verb!r}: the actions are {', '.join(actions_lib.VERBS)}")
        form = await _form(request)
        wants_json = "application/json" in request.headers.get("accept", "") or "authorization" in request.headers
        try:
            name = self.keeper.who(
                authorization=request.headers.get("authorization"),
                cookie=request.cookies.get(actions_lib.COOKIE),
                csrf=form.get("csrf") or request.headers.get("x-csrf-token"),
                user=request.headers.get("x-orchestrator-user"),
            )
        except actions_lib.Refused as exc:
            return self._answer(request, wants_json, verb, "refused", str(exc), exc.status)
        who = f"{name} (dashboard, {request.client.host if request.client else '?'})"
        try:
            message = await run_in_threadpool(actions_lib.act, verb, self.fleet, who, form)
            outcome, status = "done", 200
        except OrchestratorError as exc:
            message, outcome, status = str(exc), "refused", 409
        await run_in_threadpool(self.records.history().record_action, verb, who, outcome, message)
        return self._answer(request, wants_json, verb, outcome, message, status)

    def _answer(
        self, request: Request, wants_json: bool, verb: str, outcome: str, message: str, status: int
    ) -> Response:
        if wants_json:
            return JSONResponse({"verb": verb, "outcome": outcome, "message": message}, status_code=status)
        return self.page(request, "action.html", code=status, verb=verb, outcome=outcome, message=message)

    # --- errors ---

    def not_found(self, request: Request, exc: HTTPException) -> Response:
        if exc.status_code == 404:
            return self.page(request, "error.html", code=404, title="Not found", message=exc.detail)
        return self.page(
            request, "error.html", code=exc.status_code, title=f"Error {exc.status_code}", message=exc.detail
        )

    def unreadable(self, request: Request, exc: InputError) -> Response:
        # the state directory cannot be read: the page says so, with the fix
        return self.page(request, "error.html", code=503, title="The state directory cannot be read", message=str(exc))


def create_app(site: Site, *, feed: FleetFeed | None = None) -> Starlette:
    pages = Pages(site, feed)
    routes = [
        Route("/", pages.fleet_page),
        Route("/fragments/fleet", pages.fleet_fragment),
        Route("/deploys", pages.deploys_page),
        Route("/deploys/{deploy_id:int}", pages.deploy_page),
        Route("/fragments/deploys/{deploy_id:int}", pages.deploy_fragment),
        Route("/releases", pages.releases_page),
        Route("/metrics", pages.metrics_endpoint),
        Route("/login", pages.login_page, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/actions/{verb}", pages.action, methods=["POST"]),
        Mount("/static", StaticFiles(packages=[("orchestrator.dashboard", "static")]), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        pages.feed.start()
        try:
            yield
        finally:
            pages.feed.stop()

    return Starlette(
        routes=routes,
        # (starlette types a handler as taking any Exception; each of these gets its own kind)
        exception_handlers={HTTPException: pages.not_found, InputError: pages.unreadable},  # type: ignore[dict-item]
        lifespan=lifespan,
    )


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded body as a dict (the last value of each field); JSON bodies are not taken."""
    body = await request.body()
    if len(body) > MAX_FORM:
        raise HTTPException(413, "the form is too large")
    return {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _clock(stamp: float | None) -> str:
    return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S") if stamp else "-"


def _ago(stamp: float | None) -> str:
    if not stamp:
        return "never"
    seconds = max(0.0, time.time() - stamp)
    return (
        f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago" if seconds < 7200 else _clock(stamp)
    )


def _secs(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.1f}s" if seconds < 100 else f"{seconds / 60:.1f} min"
