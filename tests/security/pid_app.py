"""The app under gunicorn, its answers marked with the process that gave them (tests only)."""

from __future__ import annotations

import os
from typing import Any

from attendance import create_app

_app = create_app()


def app(environ: dict[str, Any], start_response: Any) -> Any:
    """The app, adding X-Test-Pid to every answer."""

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        return start_response(status, [*headers, ("X-Test-Pid", str(os.getpid()))], exc_info)

    return _app(environ, start)
