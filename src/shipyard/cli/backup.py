"""``shipyard backup DEST``: a consistent copy of the metadata database, safe under running writers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli.main import state


def register(app: typer.Typer) -> None:
    @app.command("backup")
    def backup(
        ctx: typer.Context,
        dest: Annotated[
            Path,
            typer.Argument(help="New file for the copy, or an existing folder (a file named by the time)."),
        ],
    ) -> None:
        """Back up the SQLite metadata database (WAL included) while servers and runs keep writing.

        Postgres: use pg_dump. Artifacts are not copied: copy the artifact folder after this
        backup finishes (blobs are write-once, so that copy holds every blob the backup names).
        """
        from shipyard.cli._output import console, line
        from shipyard.metadata.sql.backup import backup_database

        settings = state(ctx).settings
        written = backup_database(settings.metadata_uri, dest.expanduser())
        out = console()
        out.print(line("backed up the metadata database to ", (str(written), "bold")))
        out.print(
            line(
                "artifacts are not in it: copy ",
                (settings.artifact_root, "bold"),
                " now (e.g. rsync -a, or `aws s3 sync` for s3://); blobs written later are harmless extras",
            )
        )
