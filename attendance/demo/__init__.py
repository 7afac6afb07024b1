"""The demo: believable schools, pupils and check-ins for trying the service out.

- `generate`: the generator, pure (no database, no Flask): seeded schools, names, events.
- `store`: schools and users through the services, events in bulk (COPY on PostgreSQL),
  day versions bumped; also the demo logins.
- `load_http`: the same events through the HTTP API of a running server.
- `cli`: the one command, `flask --app attendance demo` (`--quick`, `--big`).
"""
