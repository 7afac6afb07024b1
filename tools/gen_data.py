#!/usr/bin/env python3
"""Demo data from the command line: the same as `flask --app attendance demo-data`.

    python tools/gen_data.py --schools 3 --users 500 --from 2026-11-02 --to 2026-11-27 \\
        --timezones Asia/Ho_Chi_Minh,Europe/Paris --seed 1 --mode db

The app is made from the environment (DATABASE_URL ...) like `flask` would; `--help`
lists every option.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout: this checkout's package, whatever else is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask.cli import ScriptInfo  # noqa: E402

from attendance import create_app  # noqa: E402
from attendance.demo_cli import demo_data_command  # noqa: E402

if __name__ == "__main__":
    demo_data_command.main(prog_name="gen_data.py", obj=ScriptInfo(create_app=create_app))
