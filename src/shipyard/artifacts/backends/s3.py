"""An S3 bucket (or MinIO, moto...) as a byte backend; boto3 is imported on first use.

S3 PUTs are atomic: an object appears whole or not at all, also for multipart uploads, which
boto3's ``upload_file`` uses for big files.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from shipyard.artifacts.backends.base import BlobBackend, BlobInfo
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


class _BodyStream(io.RawIOBase):
    """A botocore StreamingBody as a readable raw stream."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return bytes(self._body.read())

    def close(self) -> None:
        self._body.close()
        super().close()


class S3Backend(BlobBackend):
    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None) -> None:
        if not bucket:
            raise ConfigurationError("an S3 artifact root needs a bucket: s3://<bucket>/<prefix>")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.location = f"s3://{bucket}/{self.prefix}".rstrip("/")
        self._client: S3Client | None = None

    @property
    def client(self) -> S3Client:
        if self._client is None:
            boto3 = import_boto3()
            session = boto3.session.Session()
            self._client = cast("S3Client", session.client("s3", endpoint_url=self.endpoint_url))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _error(self, action: str, key: str, exc: Exception) -> StorageError:
        return StorageError(f"cannot {action} {key} in {self.location}: {exc}")

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
            if self._is_missing(exc):
                raise NotFoundError(f"no blob {key} in {self.location}") from exc
            raise self._error("read", key, exc) from exc
        return cast(BinaryIO, io.BufferedReader(_BodyStream(response["Body"]), 1 << 20))

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
