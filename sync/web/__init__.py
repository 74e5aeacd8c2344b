"""`contactsync serve`: the review page (Starlette and Jinja2 templates, plain HTML, no JS)."""

from sync.web.app import create_app

__all__ = ["create_app"]
