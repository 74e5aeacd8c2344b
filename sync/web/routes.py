"""The review page's requests: pages are GET, changes are POST behind login and CSRF."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from sync import conflicts, explain
from sync.config import Settings
from sync.errors import UsageError
from sync.store.repo import Store
from sync.web import views
from sync.web.auth import SESSION_COOKIE, SESSION_SECONDS, VISIT_COOKIE, Guard

NOTICES = {
    "resolved": "Conflict {id} resolved: the choice is pushed to every system on the next run.",
    "allowed": "Deletion allowed: the next complete full listing of that system carries it out.",
    "allowed-all": "{id} deletion(s) allowed: the next complete full listing of that system "
    "carries them out.",
    "login": "Logged in: you can resolve conflicts and allow deletions.",
    "logout": "Logged out.",
}


class Review:
    def __init__(
        self, settings: Settings, store: Store, guard: Guard, templates: Jinja2Templates
    ) -> None:
        self.settings = settings
        self.store = store
        self.guard = guard
        self.templates = templates

    def routes(self) -> list[Route]:
        return [
            Route("/", self.conflicts_page),
            Route("/problems", self.problems_page),
            Route("/runs", self.runs_page),
            Route("/contact", self.contact_page),
            Route("/login", self.login_page),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/conflicts/{id:int}/resolve", self.resolve, methods=["POST"]),
            Route("/deletions/{id:int}/allow", self.allow, methods=["POST"]),
            Route("/systems/{system}/deletions/allow", self.allow_system, methods=["POST"]),
        ]

    # --- rendering ----------------------------------------------------------------------------

    def logged_in(self, request: Request) -> bool:
        return self.guard.valid_session(request.cookies.get(SESSION_COOKIE))

    def page(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        visit = request.cookies.get(VISIT_COOKIE) or self.guard.new_visit()
        code = request.query_params.get("notice", "")
        notice = NOTICES.get(code, "").format(id=request.query_params.get("id", "")) or None
        ctx = {
            "csrf": self.guard.csrf_for(visit),
            "writable": self.guard.writable,
            "token_env": self.settings.review.token_env,
            "logged_in": self.logged_in(request),
            "notice": notice,
            **context,
        }
        response = self.templates.TemplateResponse(request, name, ctx, status_code=status)
        if request.cookies.get(VISIT_COOKIE) != visit:
            self._cookie(request, response, VISIT_COOKIE, visit, None)
        return response

    @staticmethod
    def _cookie(
        request: Request, response: Response, name: str, value: str, max_age: int | None
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )

    def refuse(self, request: Request, message: str, status: int = 403) -> Response:
        return self.page(request, "refused.html", {"message": message}, status)

    async def checked_form(self, request: Request, *, login: bool = True) -> FormData | Response:
        """The form of a POST that may change something, or the refusal to show instead."""
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            return self.refuse(request, "This form was sent from another site.")
        if not self.guard.writable:
            return self.refuse(request, self._read_only())
        form = await request.form()
        offered = form.get("csrf")
        visit = request.cookies.get(VISIT_COOKIE)
        if not self.guard.valid_csrf(visit, offered if isinstance(offered, str) else None):
            return self.refuse(request, "This form has expired. Reload the page and try again.")
        if login and not self.logged_in(request):
            return self.refuse(request, "Log in with the review token to make changes.")
        return form

    def _read_only(self) -> str:
        env = self.settings.review.token_env
        if not env:
            return "This page is read-only: set [review] token_env in sync.toml to allow changes."
        return f"This page is read-only: the variable {env} is not set."

    # --- pages --------------------------------------------------------------------------------

    async def conflicts_page(self, request: Request) -> Response:
        items = await run_in_threadpool(conflicts.rows, self.store, True)
        live = [i for i in items if i["status"] == "open"]
        waiting = [i for i in items if i["status"] == "resolved"]
        return self.page(request, "conflicts.html", {"conflicts": live, "waiting": waiting})

    async def problems_page(self, request: Request) -> Response:
        data = await run_in_threadpool(views.problems, self.store)
        return self.page(request, "problems.html", data)

    async def runs_page(self, request: Request) -> Response:
        data = await run_in_threadpool(views.runs_and_health, self.store, self.settings)
        return self.page(request, "runs.html", data)

    async def contact_page(self, request: Request) -> Response:
        email = request.query_params.get("email", "").strip()
        if not email:
            return self.page(request, "contact.html", {"contact": None, "error": None})
        try:
            data = await run_in_threadpool(explain.collect, self.store, self.settings, email)
        except UsageError as exc:
            ctx = {"contact": None, "error": str(exc), "email": email}
            return self.page(request, "contact.html", ctx, 404)
        return self.page(request, "contact.html", {"contact": data, "error": None})

    async def login_page(self, request: Request) -> Response:
        return self.page(request, "login.html", {"error": None})

    # --- changes --------------------------------------------------------------------------

    async def login(self, request: Request) -> Response:
        form = await self.checked_form(request, login=False)
        if isinstance(form, Response):
            return form
        offered = form.get("token")
        if not isinstance(offered, str) or not self.guard.check_token(offered):
            await asyncio.sleep(0.5)  # slows guessing; the token is never echoed back
            return self.page(request, "login.html", {"error": "That is not the token."}, 403)
        response = RedirectResponse("/?notice=login", status_code=303)
        self._cookie(request, response, SESSION_COOKIE, self.guard.new_session(), SESSION_SECONDS)
        return response

    async def logout(self, request: Request) -> Response:
        form = await self.checked_form(request, login=False)
        if isinstance(form, Response):
            return form
        response = RedirectResponse("/?notice=logout", status_code=303)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict")
        return response

    async def resolve(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if isinstance(form, Response):
            return form
        conflict_id = int(request.path_params["id"])
        action = form.get("action")
        system, value = form.get("system"), form.get("value")
        try:
            await run_in_threadpool(
                lambda: conflicts.apply_resolution(
                    self.store,
                    self.settings,
                    conflict_id,
                    take=str(system) if action == "take" and system else None,
                    value=str(value) if action == "value" and value is not None else None,
                    dismiss=action == "dismiss",
                )
            )
        except UsageError as exc:
            return self.refuse(request, str(exc), 400)
        return RedirectResponse(f"/?notice=resolved&id={conflict_id}", status_code=303)

    async def allow(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if isinstance(form, Response):
            return form
        entry_id = int(request.path_params["id"])

        if not await run_in_threadpool(self.store.allow_deletion, entry_id):
            return self.refuse(request, f"No held deletion with ID {entry_id}.", 404)
        return RedirectResponse("/problems?notice=allowed", status_code=303)

    async def allow_system(self, request: Request) -> Response:
        form = await self.checked_form(request)
        if isinstance(form, Response):
            return form
        system = str(request.path_params["system"])
        count = await run_in_threadpool(views.allow_system, self.store, system)
        if not count:
            return self.refuse(request, f"No deletion is held in {system}.", 404)
        return RedirectResponse(f"/problems?notice=allowed-all&id={count}", status_code=303)
