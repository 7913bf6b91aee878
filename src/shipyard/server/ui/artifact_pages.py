"""Artifact pages: preview (table / image / text), the image endpoint and downloads.

Images are served only when their bytes are PNG or JPEG, with their own media type, ``nosniff``
and a sandboxing CSP, so an uploaded HTML or SVG file can never run script in the UI's origin.
Downloads are always ``application/octet-stream`` attachments, verified before a complete answer
leaves (``server/blob_responses.py``).
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from shipyard.core.entities import ArtifactRecord
from shipyard.core.errors import NotFoundError
from shipyard.server.ui.common import ROOT, guarded, page_context, server_context
from shipyard.server.ui.preview import build_preview, download_name, image_bytes
from shipyard.server.ui.templating import Pages

BLOB_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _record(request: Request, run_id: str, artifact_id: str) -> ArtifactRecord:
    record = server_context(request).stores.metadata.get_artifact(artifact_id)
    if record.run_id != run_id:
        raise NotFoundError(f"run {run_id} has no artifact {artifact_id}")
    return record


def add_artifact_routes(router: APIRouter, pages: Pages) -> None:
    @router.get(f"{ROOT}/runs/{{run_id}}/artifacts/{{artifact_id}}")
    def artifact_page(request: Request, run_id: str, artifact_id: str) -> Response:
        def build() -> Response:
            stores = server_context(request).stores
            run = stores.metadata.get_run(run_id)
            record = _record(request, run.id, artifact_id)
            preview = build_preview(stores.artifacts, record)
            return pages.render(
                "artifact.html",
                **page_context(request, "runs", run=run, artifact=record, preview=preview),
            )

        return guarded(pages, request, "runs", build)

    @router.get(f"{ROOT}/runs/{{run_id}}/artifacts/{{artifact_id}}/image")
    def artifact_image(request: Request, run_id: str, artifact_id: str) -> Response:
        def build() -> Response:
            record = _record(request, run_id, artifact_id)
            found = image_bytes(server_context(request).stores.artifacts, record)
            if found is None:
                raise NotFoundError(f"artifact {record.name!r} is not a PNG or JPEG image")
            data, mime = found
            headers = {**BLOB_HEADERS, "Content-Disposition": "inline", "Cache-Control": "private"}
            return Response(data, media_type=mime, headers=headers)

        return guarded(pages, request, "runs", build)

    @router.get(f"{ROOT}/runs/{{run_id}}/artifacts/{{artifact_id}}/download")
    def artifact_download(request: Request, run_id: str, artifact_id: str) -> Response:
        def build() -> Response:
            from shipyard.server.blob_responses import blob_response

            record = _record(request, run_id, artifact_id)
            stores = server_context(request).stores
            headers = {
                **BLOB_HEADERS,
                "Content-Disposition": f'attachment; filename="{download_name(record)}"',
                "Cache-Control": "no-store",
            }
            try:
                return blob_response(
                    stores.artifacts.cas, record.digest, record.name, headers, "application/octet-stream"
                )
            except NotFoundError:
                raise NotFoundError(
                    f"the bytes of artifact {record.name!r} are missing from the store"
                ) from None

        return guarded(pages, request, "runs", build)
