#!/usr/bin/env python
"""Regenerate the built-in templates' ``requirements.lock``: each template rendered into a tmp
folder, its own ``make lock`` run there (uv, PyPI), the lock copied back into the template.

Run it after changing a template's ``requirements.txt`` or shipyard's own dependencies (the locks
hold shipyard's dependencies too; shipyard itself is resolved from this checkout, since the lock
leaves it out). ``--upgrade`` moves every pin to the newest release. tests/templates checks the
locks (test_locks.py offline, test_render_and_run.py with uv).

    .venv/bin/python scripts/lock_templates.py [--upgrade] [TEMPLATE ...]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from tests.templates.locks import lock_flags, uv_binary  # noqa: E402

from shipyard.templates.render import BUILTIN, init_project, templates_root  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("templates", nargs="*", help=f"some of {', '.join(BUILTIN)} (default: all)")
    parser.add_argument("--upgrade", action="store_true", help="newest releases, not the current pins")
    args = parser.parse_args(argv)
    unknown = [name for name in args.templates if name not in BUILTIN]
    if unknown:
        parser.error(f"unknown template {unknown[0]!r}: use some of {', '.join(BUILTIN)}")
    uv = uv_binary()
    if uv is None:
        print("error: uv is not installed: pip install uv (or shipyard[envs])", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.templates or list(BUILTIN):
            project = init_project(f"{name}-lock", Path(tmp), name, cache_dir=Path(tmp) / "cache", git=False)
            flags = lock_flags(project / "requirements.txt", REPO, Path(tmp) / f"{name}-overrides.txt")
            if args.upgrade:
                flags.append("--upgrade")
            subprocess.run(
                ["make", "--no-print-directory", "lock", f"UV={uv}", f"LOCK_FLAGS={' '.join(flags)}"],
                cwd=project,
                check=True,
            )
            target = templates_root() / name / "project" / "requirements.lock"
            shutil.copyfile(project / "requirements.lock", target)
            print(f"wrote {target.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
