"""An S3 bucket (or MinIO, moto...) as a byte backend; boto3 is imported on first use.

S3 PUTs are atomic: an object appears whole or not at all, also for multipart uploads, which
boto3's ``upload_file`` uses for big files.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from shipyard.artifacts.backends.base import BlobBackend, BlobInfo, StaleReport
from shipyard.core.errors import ConfigurationError, NotFoundError, StorageError

if TYPE_CHECKING:
    S3Client = Any  # boto3's client is built dynamically

MULTIPART_THRESHOLD = 64 << 20
_MISSING_CODES = ("404", "NoSuchKey", "NotFound")


def import_boto3() -> Any:
    try:
        import boto3
    except ImportError as exc:
        raise ConfigurationError(
            "an s3:// artifact root needs boto3, which is not installed: pip install 'shipyard[s3]'"
        ) from exc
    return boto3


def _transient_errors() -> tuple[type[BaseException], ...]:
    """What a dropped or reset connection raises from the middle of a response body."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError
    from urllib3.exceptions import ProtocolError
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    return (
        ResponseStreamingError,
        IncompleteReadError,
        ReadTimeoutError,
        BotoConnectionError,
        ProtocolError,
        Urllib3ReadTimeout,
        ConnectionError,
        TimeoutError,
    )


def _cause(exc: BaseException) -> str:
    """A short, single-line description of a transport error."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


class _BodyStream(io.RawIOBase):
    """An S3 object as a readable raw stream that survives dropped connections: when the body
    breaks off, the rest is asked for again (a ranged GET from the first byte not yet returned,
    pinned to the same ETag) after a backoff, up to the backend's attempt limit; then a one-line
    StorageError."""

    def __init__(self, backend: S3Backend, key: str, response: dict[str, Any]) -> None:
        self._backend = backend
        self._key = key
        self._body = response["Body"]
        self._etag = response.get("ETag")
        length = response.get("ContentLength")
        self._length = int(length) if length is not None else None
        self._position = 0
        self._failures = 0
        self._transient = _transient_errors()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        parts = []
        while chunk := self._read(1 << 20):
            parts.append(chunk)
        return b"".join(parts)

    def _read(self, n: int) -> bytes:
        while True:
            try:
                data = bytes(self._body.read(n))
            except self._transient as exc:
                if self._length is not None and self._position >= self._length:
                    return b""  # it broke off after the last byte: nothing left to ask for
                self._resume(exc)
                continue
            self._position += len(data)
            return data

    def _resume(self, exc: BaseException) -> None:
        self._failures += 1
        backend = self._backend
        if self._failures >= backend.max_attempts:
            raise StorageError(
                f"cannot read {self._key} from {backend.location}: the connection broke off "
                f"{self._failures} times ({_cause(exc)}); check the network to the S3 endpoint and retry"
            ) from None
        with contextlib.suppress(Exception):
            self._body.close()
        time.sleep(backend.backoff_s * (2 ** (self._failures - 1)))
        extra = {"IfMatch": self._etag} if self._etag else {}
        try:
            response = backend.client.get_object(
                Bucket=backend.bucket,
                Key=backend.full_key(self._key),
                Range=f"bytes={self._position}-",
                **extra,
            )
        except self._transient as again:
            return self._resume(again)
        except Exception as failed:
            raise backend.read_error(self._key, failed) from None
        self._body = response["Body"]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._body.close()
        super().close()


class S3Backend(BlobBackend):
    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        *,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
    ) -> None:
        """``max_attempts``: tries per request and per broken-off download (botocore retries a
        failed request itself, with its own backoff; a download that breaks off mid-body resumes
        from the last byte received, waiting ``backoff_s``, doubled each time)."""
        if not bucket:
            raise ConfigurationError("an S3 artifact root needs a bucket: s3://<bucket>/<prefix>")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client: S3Client | None = None
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s

    @property
    def client(self) -> S3Client:
        if self._client is None:
            boto3 = import_boto3()
            from botocore.config import Config

            session = boto3.session.Session()
            config = Config(retries={"max_attempts": self.max_attempts, "mode": "standard"})
            self._client = cast(
                "S3Client", session.client("s3", endpoint_url=self.endpoint_url, config=config)
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _key(self, key: str) -> str:
        return self.prefix + key

    def full_key(self, key: str) -> str:
        """The object key in the bucket."""
        return self._key(key)

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"cannot {action} {key} in {self.location}: {_cause(exc)}")

    def read_error(self, key: str, exc: Exception) -> Exception:
        if self._is_missing(exc):
            return NotFoundError(f"no blob {key} in {self.location}")
        return self._error("read", key, exc)

    @staticmethod
    def _is_missing(exc: Exception) -> bool:
        response = getattr(exc, "response", None)
        code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
        return code in _MISSING_CODES

    def write_bytes(self, key: str, data: bytes | memoryview) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=bytes(data))
        except Exception as exc:
            raise self._error("write", key, exc) from exc

    def write_file(self, key: str, path: Path) -> None:
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_THRESHOLD,
            max_concurrency=4,
        )
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), Config=config)
        except FileNotFoundError as exc:
            raise NotFoundError(f"cannot store {path} as {key}: no such file") from exc
        except Exception as exc:
            raise self._error("write", key, exc) from exc

    def open_read(self, key: str) -> BinaryIO:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self.read_error(key, exc) from exc
        return cast(BinaryIO, io.BufferedReader(_BodyStream(self, key, response), 1 << 20))

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return cast("dict[str, Any]", self.client.head_object(Bucket=self.bucket, Key=self._key(key)))
        except Exception as exc:
            if self._is_missing(exc):
                return None
            raise self._error("look up", key, exc) from exc

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise NotFoundError(f"no blob {key} in {self.location}")
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            if not self._is_missing(exc):
                raise self._error("delete", key, exc) from exc

    def list_keys(self, prefix: str = "") -> Iterator[str]:
        for info in self.list_blobs(prefix):
            yield info.key

    def list_blobs(self, prefix: str = "") -> Iterator[BlobInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for item in page.get("Contents", []):
                    modified = item.get("LastModified")
                    yield BlobInfo(
                        item["Key"][len(self.prefix) :],
                        int(item.get("Size", 0)),
                        modified.timestamp() if modified is not None else None,
                    )
        except Exception as exc:
            raise self._error("list", prefix or "keys", exc) from exc

    def stat(self, key: str) -> BlobInfo:
        head = self._head(key)
        if head is None:
            raise NotFoundError(f"no blob {key} in {self.location}")
        modified = head.get("LastModified")
        return BlobInfo(key, int(head["ContentLength"]), modified.timestamp() if modified else None)

    def touch(self, key: str) -> None:
        """S3 has no utime: copying the object onto itself (metadata replaced) renews LastModified."""
        full = self._key(key)
        try:
            self.client.copy_object(
                Bucket=self.bucket,
                Key=full,
                CopySource={"Bucket": self.bucket, "Key": full},
                MetadataDirective="REPLACE",
            )
        except Exception as exc:
            if self._is_missing(exc):
                raise NotFoundError(f"no blob {key} in {self.location}") from exc
            raise self._error("touch", key, exc) from exc

    def clean_stale(self, cutoff: float, *, dry_run: bool = False) -> StaleReport:
        """Abort the multipart uploads under the prefix that killed writers left unfinished (S3
        keeps, and bills, their parts until then): those started before ``cutoff`` whose last
        part, if any, was also uploaded before it, so a long upload still sending parts is kept."""
        report = StaleReport()
        try:
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for upload in page.get("Uploads", []):
                    report += self._stale_upload(upload, cutoff, dry_run)
        except Exception as exc:
            raise self._error("clean up unfinished uploads under", self.prefix or "/", exc) from exc
        return report

    def _stale_upload(self, upload: dict[str, Any], cutoff: float, dry_run: bool) -> StaleReport:
        key, upload_id = upload["Key"], upload["UploadId"]
        last, size = upload["Initiated"].timestamp(), 0
        for page in self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=key, UploadId=upload_id
        ):
            for part in page.get("Parts", []):
                size += int(part.get("Size", 0))
                last = max(last, part["LastModified"].timestamp())
        if last >= cutoff:
            return StaleReport()
        if not dry_run:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except Exception as exc:
                if not self._is_missing(exc) and "NoSuchUpload" not in str(exc):
                    raise
                return StaleReport()  # completed or aborted meanwhile
        return StaleReport(uploads=1, upload_bytes=size)
