"""The dags prefix of an S3 bucket: list, read, write and delete objects by relative key."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from factory.deploy.aws import error_code, http_status
from factory.deploy.manifest import MANIFEST_NAME, Manifest

DEFAULT_PREFIX = "dags/"
# User metadata on every object the factory writes: x-amz-meta-factory-sha256.
SHA256_METADATA = "factory-sha256"
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_CONTENT_TYPES = {".py": "text/x-python", ".json": "application/json", ".yaml": "application/yaml"}


class ConcurrentSyncError(Exception):
    """The manifest changed while this sync ran: another sync is writing the same prefix."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # "" or ends with "/"

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """`s3://BUCKET[/PREFIX]`; no prefix means `dags/`, MWAA's usual dags folder."""
        if not url.startswith("s3://"):
            raise ValueError(f"expected s3://BUCKET[/PREFIX], got {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket name in {url!r}")
        prefix = prefix.strip("/")
        return cls(bucket, f"{prefix}/" if prefix else DEFAULT_PREFIX)

    def key(self, relative: str) -> str:
        return self.prefix + relative

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


@dataclass(frozen=True)
class RemoteObject:
    key: str  # relative to the prefix
    etag: str  # without quotes
    size: int

    @property
    def md5(self) -> str | None:
        """The content MD5 when the ETag is one. Multipart ETags end in '-N'; SSE-KMS
        ETags look like MD5s but are not: they then simply never match (an extra upload,
        never a missed one)."""
        return self.etag if _MD5.match(self.etag) else None


class Bucket:
    def __init__(self, client: BaseClient, location: S3Location) -> None:
        self.client = client
        self.location = location
        self._sha256: dict[str, str | None] = {}
        # Conditional writes (If-Match) guard the manifest against two syncs at once;
        # an older botocore without them still syncs correctly, just unguarded.
        put = client.meta.service_model.operation_model("PutObject").input_shape.members
        self._conditional = "IfMatch" in put and "IfNoneMatch" in put

    @property
    def manifest_key(self) -> str:
        return self.location.key(MANIFEST_NAME)

    def list(self) -> dict[str, RemoteObject]:
        """Every object under the prefix except the manifest, by relative key."""
        found: dict[str, RemoteObject] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.prefix):
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(self.location.prefix) :]
                if relative and relative != MANIFEST_NAME:
                    found[relative] = RemoteObject(relative, obj["ETag"].strip('"'), obj["Size"])
        return found

    def sha256_of(self, relative: str) -> str | None:
        """The content hash a factory sync stored on the object (None if it has none)."""
        if relative not in self._sha256:
            try:
                head = self.client.head_object(Bucket=self.location.bucket, Key=self.location.key(relative))
                self._sha256[relative] = head.get("Metadata", {}).get(SHA256_METADATA)
            except ClientError as exc:
                if http_status(exc) != 404:
                    raise
                self._sha256[relative] = None
        return self._sha256[relative]

    def put(self, relative: str, data: bytes, sha256: str, md5: str, **conditions: Any) -> str:
        """Upload with the content hash in metadata; returns the new ETag. Content-MD5 lets
        S3 reject a body damaged on the way."""
        suffix = relative[relative.rfind(".") :] if "." in relative else ""
        response = self.client.put_object(
            Bucket=self.location.bucket,
            Key=self.location.key(relative),
            Body=data,
            ContentMD5=base64.b64encode(bytes.fromhex(md5)).decode(),
            ContentType=_CONTENT_TYPES.get(suffix, "text/plain"),
            Metadata={SHA256_METADATA: sha256},
            **conditions,
        )
        self._sha256[relative] = sha256
        return str(response["ETag"]).strip('"')

    def delete(self, relative: str) -> None:
        # On a versioned bucket (MWAA requires one) this adds a delete marker: the old
        # version stays recoverable.
        self.client.delete_object(Bucket=self.location.bucket, Key=self.location.key(relative))
        self._sha256.pop(relative, None)

    def read_manifest(self) -> Manifest:
        try:
            response = self.client.get_object(Bucket=self.location.bucket, Key=self.manifest_key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return Manifest()
            raise
        return Manifest.from_json(response["Body"].read(), str(response["ETag"]).strip('"'))

    def write_manifest(self, manifest: Manifest, expected: Manifest, writer: str) -> Manifest:
        """Write `manifest` only if the bucket still holds `expected`; returns it with its new ETag."""
        data = manifest.to_json(writer)
        conditions: dict[str, str] = {}
        if self._conditional:
            conditions = {"IfMatch": f'"{expected.etag}"'} if expected.etag else {"IfNoneMatch": "*"}
        sha256 = hashlib.sha256(data).hexdigest()
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        try:
            etag = self.put(MANIFEST_NAME, data, sha256, md5, **conditions)
        except ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict") or http_status(exc) in (
                409,
                412,
            ):
                raise ConcurrentSyncError(
                    f"{self.location}{MANIFEST_NAME} changed while this sync ran: another sync is "
                    "writing the same prefix. Re-run once it has finished."
                ) from None
            raise
        return Manifest(objects=manifest.objects, pending=manifest.pending, etag=etag)
