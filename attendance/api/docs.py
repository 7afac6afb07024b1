"""The interactive API page, /api/docs: Swagger UI from the swagger-ui-bundle package's files.

flask-smorest serves the page (OPENAPI_SWAGGER_UI_PATH) by rendering `swagger_ui.html`;
ours, in attendance/templates, takes precedence over the library's, whose inline script
the page CSP forbids. Ours loads the bundle from OPENAPI_SWAGGER_UI_URL, served here from
the package (no CDN), and static/api/docs.js, which starts it. Like the OpenAPI document
it shows, the page needs no token (security.principals.PUBLIC_PATHS): it describes the
API, it grants nothing; "Try it out" sends the bearer token entered under "Authorize".
"""

from __future__ import annotations

from flask import Blueprint, Flask
from swagger_ui_bundle import swagger_ui_path


def init_app(app: Flask) -> None:
    """Serve Swagger UI's own files at OPENAPI_SWAGGER_UI_URL."""
    url = app.config.get("OPENAPI_SWAGGER_UI_URL")
    if url:
        files = Blueprint(
            "swagger_ui", __name__, static_folder=swagger_ui_path, static_url_path=url.rstrip("/")
        )
        app.register_blueprint(files)
