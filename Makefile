# Two commands do all the set-up: `make run` serves the app on embedded defaults
# (and, when REDIS_URL is set, starts $(WORKERS) report worker processes beside it),
# `make test` passes the tests. Each creates .venv and installs what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app attendance
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 5000
WORKERS ?= 1

.PHONY: install run run-web run-workers demo-data test lint bench-aggregate bench-ingest bench-ingest-ablation bench-roster bench-district clean

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) demo --quick
	$(FLASK) serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

# Production-like processes, one terminal each (or the Procfile under a process manager).
run-web: $(STAMP)
	PORT=$(PORT) HOST=$(HOST) $(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

run-workers: $(STAMP)
	$(FLASK) worker --count $(WORKERS)

# More (or other) generated data: make demo-data DEMO_ARGS="--schools 5 --users 2000 --seed 2"
demo-data: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) demo --big $(DEMO_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The lint and the tests both run (a formatting nit does not hide a failing test); the
# target fails at the end if either did.
test: $(STAMP)
	@$(MAKE) --no-print-directory lint; lint=$$?; \
	$(PY) -m pytest $(PYTEST_ARGS); tests=$$?; \
	if [ $$lint -ne 0 ]; then echo "make test: the lint failed (see above)" >&2; fi; \
	[ $$lint -eq 0 ] && [ $$tests -eq 0 ]

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache .hypothesis

# Needs PostgreSQL and Redis on localhost (DB 12); several minutes (docs/performance.md).
# BENCH_ARGS="--case year" runs one case (month or year); "--case history" runs the
# month report with one and three years of events (not part of the default run).
bench-aggregate: $(STAMP)
	$(PY) tools/bench_aggregate.py $(BENCH_ARGS)

# Needs PostgreSQL (BENCH_DATABASE_URL, default the local attendance_bench_ingest, which it
# wipes), pgbench and Redis (BENCH_REDIS_URL, default database 12); about two and a half
# minutes. BENCH_ARGS="--rounds 5" or "--concurrency 32" and so on.
bench-ingest: $(STAMP)
	$(PY) tools/bench_ingest.py $(BENCH_ARGS)

# The same setting and database: the check-in with its request log, metrics and security
# headers switched off, one by one and together, and with its usual case answered outside
# Flask by a prototype, beside the real and the bare app (about four minutes). What those
# parts and Flask's request pipeline cost under load (docs/performance.md).
bench-ingest-ablation: $(STAMP)
	$(PY) tools/ingest_ablation.py $(BENCH_ARGS)

# Needs PostgreSQL (BENCH_DATABASE_URL, default the local attendance_bench_roster, which it
# wipes): times `flask roster import` of 50,000 pupils, then the same file again, and peak
# memory. BENCH_ARGS="--rows 100000" and so on.
bench-roster: $(STAMP)
	$(PY) tools/bench_roster.py $(BENCH_ARGS)

# Needs PostgreSQL (the local attendance_bench_district, which it drops and recreates) and
# Redis DB 13: 500 schools x 200 pupils, the overview and a district month report through
# gunicorn and workers, each beside one SQL statement. BENCH_ARGS="--schools 100" and so on.
bench-district: $(STAMP)
	$(PY) tools/bench_district.py $(BENCH_ARGS)
