"""AWS sessions the way the AWS CLI makes them, and AWS failures in plain words.

Profile, region and endpoint come from the options when given, otherwise from the
usual places (AWS_PROFILE, AWS_REGION / AWS_DEFAULT_REGION, AWS_ENDPOINT_URL[_S3],
~/.aws/config); retries follow AWS_RETRY_MODE / AWS_MAX_ATTEMPTS, as in the CLI.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

# What each call needs in IAM terms, so "access denied" says which permission is missing.
_PERMISSION = {
    "ListObjectsV2": "s3:ListBucket",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "DeleteObject": "s3:DeleteObject",
    "InvokeRestApi": "airflow:InvokeRestApi",
    "CreateCliToken": "airflow:CreateCliToken",
    "GetEnvironment": "airflow:GetEnvironment",
}
_EXPIRED = {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
_WRONG_REGION = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}

AWS_ERRORS: tuple[type[Exception], ...] = (BotoCoreError, ClientError)


class AwsError(Exception):
    """An AWS failure explained for the person reading the CI log."""


def make_client(
    service: str,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    **config: Any,
) -> BaseClient:
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
        return session.client(
            service,
            endpoint_url=endpoint_url,
            # max_pool_connections: factory sync sends up to 16 requests at once (sync.py).
            config=Config(connect_timeout=10, read_timeout=60, **{"max_pool_connections": 16, **config}),
        )
    except AWS_ERRORS as exc:
        raise AwsError(explain(exc)) from None


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def explain(exc: BaseException, target: str = "") -> str:
    """One line saying what went wrong and what to do, never a traceback."""
    where = f" {target}" if target else ""
    if isinstance(exc, NoCredentialsError):
        return (
            "no AWS credentials found: use --profile or AWS_PROFILE, set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run where an IAM role is available"
        )
    if isinstance(exc, PartialCredentialsError):
        return f"incomplete AWS credentials: {exc}"
    if isinstance(exc, ProfileNotFound):
        return f"AWS profile {exc.kwargs.get('profile')!r} is not configured (see ~/.aws/config)"
    if isinstance(exc, NoRegionError):
        return "no AWS region: use --region or set AWS_REGION"
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError | ReadTimeoutError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'the AWS endpoint')}: {exc}"
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = http_status(exc)
        operation = exc.operation_name
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code == "NoSuchBucket":
            return f"bucket{where} does not exist (check the name, the account and --endpoint-url)"
        if code in ("InvalidAccessKeyId", "UnrecognizedClientException", "InvalidClientTokenId"):
            return "the AWS access key ID is not valid: check AWS_ACCESS_KEY_ID or the profile"
        if code == "SignatureDoesNotMatch":
            return "the AWS secret access key does not match the access key ID"
        if code in _EXPIRED:
            return "the AWS credentials have expired: refresh them and retry"
        if code in _WRONG_REGION:
            return f"the bucket{where} is in another region: pass --region (or set AWS_REGION)"
        if code in ("AccessDenied", "AccessDeniedException", "AllAccessDisabled", "403") or status == 403:
            permission = _PERMISSION.get(operation, operation)
            return f"access denied{where}: the credentials in use lack {permission} ({operation}: {message})"
        if code == "ResourceNotFoundException":
            return f"not found{where}: {message}"
        return f"{operation} failed{where}: {code or status}: {message}"
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
