"""Artifact backends chosen by the URI scheme of the artifact root."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from shipyard.artifacts.backends.base import BlobBackend
from shipyard.artifacts.store import ArtifactStore
from shipyard.core.errors import ConfigurationError

if TYPE_CHECKING:
    from shipyard.core.settings import Settings


def _local(root: str, settings: Settings) -> BlobBackend:
    from shipyard.artifacts.backends.local import LocalBackend

    if root.startswith("file:"):
        parsed = urlparse(root)
        if parsed.netloc not in ("", "localhost"):
            raise ConfigurationError(
                f"artifact root {root!r} names the host {parsed.netloc!r}; use file:///absolute/path"
            )
        return LocalBackend(Path(unquote(parsed.path)))
    return LocalBackend(Path(root))


def _s3(root: str, settings: Settings) -> BlobBackend:
    from shipyard.artifacts.backends.s3 import S3Backend, import_boto3

    parsed = urlparse(root)
    if not parsed.netloc:
        raise ConfigurationError(f"artifact root {root!r} has no bucket; use s3://<bucket>/<prefix>")
    import_boto3()  # fail now, with the install hint, rather than at the first write
    return S3Backend(parsed.netloc, parsed.path.strip("/"), endpoint_url=settings.s3_endpoint_url)


def _schemes() -> dict[str, Callable[[str, Settings], BlobBackend]]:
    return {"file": _local, "s3": _s3}


def open_blob_backend(root: str, settings: Settings) -> BlobBackend:
    """The byte backend for ``root``: a folder path or ``file://`` URI, or ``s3://bucket/prefix``."""
    if not root or not root.strip():
        raise ConfigurationError(
            "the artifact root is empty; set SHIPYARD_ARTIFACTS to a folder or an s3:// URI"
        )
    scheme = urlparse(root).scheme.lower()
    if len(scheme) <= 1:  # a plain path (also "C:\\..." on Windows)
        return _local(root, settings)
    factories = _schemes()
    factory = factories.get(scheme)
    if factory is None:
        known = ", ".join(f"{name}://" for name in sorted(factories))
        raise ConfigurationError(
            f"unknown artifact root scheme {scheme!r} in {root!r}; known schemes: {known} "
            "(or a plain folder path)"
        )
    return factory(root, settings)


def _server_uri(settings: Settings) -> str | None:
    """The server's URI when artifacts go through it: SHIPYARD_URI is http(s) and no
    SHIPYARD_ARTIFACTS is set."""
    uri = settings.uri or ""
    if settings.artifacts is None and uri.lower().startswith(("http://", "https://")):
        return uri
    return None


def open_artifact_store(settings: Settings) -> ArtifactStore:
    """The artifact store at ``settings.artifact_root`` (through the server when SHIPYARD_URI is
    http(s) and SHIPYARD_ARTIFACTS is unset)."""
    from shipyard.artifacts.unpack import UnpackLimits

    limits = UnpackLimits(settings.unpack_max_bytes, settings.unpack_max_members)
    server = _server_uri(settings)
    if server is not None:
        from shipyard.artifacts.backends.http import HttpBackend

        return ArtifactStore(HttpBackend(server, settings.token), limits, scratch_folder(settings))
    return ArtifactStore(
        open_blob_backend(settings.artifact_root, settings), limits, scratch_folder(settings)
    )


def scratch_folder(settings: Settings) -> Path:
    """Where writes to a remote store buffer their temp files: ``<home>/scratch`` (a local folder
    uses its own ``.staging``); ``shipyard artifacts gc`` removes what killed writers left there."""
    return settings.home / "scratch"
