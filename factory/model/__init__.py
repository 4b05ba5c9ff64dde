"""Stage 3 of the pipeline: validated data -> typed, frozen model objects."""

from factory.model.platform import MwaaPlatform, OnpremPlatform, Platform
from factory.model.spec import Spec, Task

__all__ = ["MwaaPlatform", "OnpremPlatform", "Platform", "Spec", "Task"]
