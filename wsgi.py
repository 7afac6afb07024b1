"""The WSGI entry point: `gunicorn wsgi:app`."""

from attendance import create_app

app = create_app()
