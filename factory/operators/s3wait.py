"""The sensor of a spec's `wait_for`: the amazon provider's S3KeySensor, deferred.

Only what the provider's sensor does not decide the spec's way is here: what happens
when the wait times out. The spec says fail or skip, and only a timeout may skip: an
error such as access denied always fails. The provider's `soft_fail` would skip on any
error, and on Airflow 3.0 a deferral timeout escapes it anyway
(airflow/sdk/bases/sensor.py raises AirflowSensorTimeout from inside its own handler).
So the timeout is recognised where it arrives: the scheduler resumes a deferred task
whose trigger timed out with `next_method="__fail__"` and the timeout as its error.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor

# The exceptions the installed Airflow's task runner acts on are the ones its sensor
# base class raises (airflow.sdk.exceptions on 3.3, airflow.exceptions on 2.x and 3.0).
_SENSOR_BASE = sys.modules[next(c for c in S3KeySensor.__mro__ if c.__name__ == "BaseSensorOperator").__module__]
AirflowSensorTimeout = _SENSOR_BASE.AirflowSensorTimeout
AirflowSkipException = _SENSOR_BASE.AirflowSkipException

# The error a timed-out trigger resumes its task with: Airflow 3's
# TriggerFailureReason.TRIGGER_TIMEOUT, and Airflow 2's scheduler's own text.
_TIMEOUT_ERRORS = frozenset({"Trigger timeout", "Trigger/execution timeout"})


class FactoryS3WaitSensor(S3KeySensor):
    """Wait for `bucket_key` (an s3:// URL, a template) without holding a worker."""

    def __init__(self, *, on_timeout: str, **kwargs: Any) -> None:
        super().__init__(deferrable=True, **kwargs)
        self.on_timeout = on_timeout
        self.skipped_because: str | None = None

    @property
    def wait_timeout(self) -> timedelta:
        """The spec's timeout, as `factory render` shows it."""
        return timedelta(seconds=self.timeout)

    def execute(self, context: Any) -> None:
        try:
            super().execute(context)
        except AirflowSensorTimeout:
            # Only when poking on the worker (`factory run`: dag.test() runs a deferred
            # trigger inline and without its timeout); deferred, a timeout arrives below.
            if self.deferrable:
                raise
            self._expired()

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        error = (next_kwargs or {}).get("error")
        if next_method == "__fail__" and str(getattr(error, "value", error)) in _TIMEOUT_ERRORS:
            self._expired()
        return super().resume_execution(next_method, next_kwargs, context)

    def _expired(self) -> None:
        what = f"{self.bucket_key[:-1]} (any object under it)" if self.wildcard_match else self.bucket_key
        message = f"{what} did not appear within {self.wait_timeout}"
        if self.on_timeout == "skip":
            # Kept for `factory run`'s report: Airflow gives a skip callback no exception.
            self.skipped_because = f"{message}: skipped, as the spec's on_timeout says"
            raise AirflowSkipException(self.skipped_because)
        # A sensor timeout is never retried: the object would not come sooner.
        raise AirflowSensorTimeout(f"{message}: failed, as the spec's on_timeout says")
