"""Reading the files a person names in sync.toml, refusing what would end in a traceback.

Each function returns (or raises) problems that name the file and the key: a path that is a
folder, too long for the file system or holding NUL; a file that is not UTF-8 or not TOML;
nesting deeper than any real configuration has (Python's TOML parser and every walk after it
would hit the recursion limit); infinite and NaN numbers (a `timeout = inf` overflows the HTTP
client); a CA bundle that holds no PEM certificate.
"""

from __future__ import annotations

import errno
import math
import ssl
import tomllib
from pathlib import Path
from typing import Any

from sync.errors import ConfigError, Problem

# sync.toml needs 4 levels (systems.crm.auth.kind), a mapping 4 (fields.country.lookup.GB)
MAX_DEPTH = 16


def read_toml(path: Path, where: str, what: str) -> dict[str, Any]:
    """The parsed file, or ConfigError naming `where` (`what`: "configuration", "mapping")."""
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(where, f"{what} file not found")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(where, f"not UTF-8 (byte {exc.start})")]) from None
    except (OSError, ValueError) as exc:
        raise ConfigError([Problem(where, path_problem(exc))]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(where, f"not valid TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Problem(where, f"nested too deeply (at most {MAX_DEPTH})")]) from None
    problems = tree_problems(raw, where)
    if problems:
        raise ConfigError(problems)
    return raw


def path_problem(exc: OSError | ValueError) -> str:
    """Why a path cannot be read, in words (a folder, too long, NUL, permissions)."""
    if isinstance(exc, ValueError):
        return "the path holds a NUL character"
    if isinstance(exc, IsADirectoryError):
        return "is a folder, not a file"
    if exc.errno == errno.ENAMETOOLONG:
        return "the path is too long for the file system"
    return f"cannot be read: {exc.strerror or exc}"


def tree_problems(raw: Any, where: str) -> list[Problem]:
    """Non-finite numbers and too deep nesting anywhere in a parsed document (no recursion)."""
    problems: list[Problem] = []
    stack: list[tuple[str, Any, int]] = [("", raw, 0)]
    while stack:
        key, value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(Problem(f"{where}: {key}", f"{value} is not a finite number"))
        elif isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                problems.append(
                    Problem(f"{where}: {key}", f"nested too deeply (at most {MAX_DEPTH} levels)")
                )
                continue
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for k, v in items:
                sub = f"{key}[{k}]" if isinstance(k, int) else f"{key}.{k}" if key else str(k)
                stack.append((sub, v, depth + 1))
    return sorted(problems, key=lambda p: p.where)


def ca_bundle_problem(path: Path) -> str | None:
    """None when the file is a bundle of PEM certificates TLS can load."""
    try:
        if not path.is_file():
            return "is a folder, not a file" if path.is_dir() else "no such file"
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:
        return "holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)"
    except (OSError, ValueError) as exc:
        return path_problem(exc)
    return None
