"""Logging: one line per event, text or JSON, and a filter that keeps secrets out: every
configured secret value (sync/masking.py), and what looks like a credential (`redact`)."""

from __future__ import annotations

import json
import logging
import re

from sync.masking import mask

_SECRET = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(basic|bearer|soticket)?\s*[^\s\"',}]+"
    r"|((?:password|secret|token|access_token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}&]+"
)


def redact(text: str) -> str:
    """Configured secrets, then anything that looks like a credential, masked."""

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return f"{m.group(1)}{m.group(2) + ' ' if m.group(2) else ''}[redacted]"
        return f"{m.group(3)}[redacted]"

    return _SECRET.sub(sub, mask(text))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class TextFormatter(logging.Formatter):
    """The message and any traceback below it masked (the filter sees the message only)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:  # one line still: the traceback is a field, not more lines
            event["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(event)


def setup(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "alembic", "apscheduler", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
