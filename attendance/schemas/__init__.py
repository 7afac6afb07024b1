"""marshmallow schemas shared by the API and the dashboard (each imports the module it needs)."""
