"""The package's own errors. The CLI catches exactly these (and argparse's), so anything else is
a bug and shows its traceback."""

from __future__ import annotations

from typing import Any


class ImbaclError(Exception):
    """Base of every error the package raises on purpose."""


class ConfigError(ImbaclError, ValueError):
    """A field, a value or a combination that is not allowed. ``field``, ``value`` and
    ``allowed`` (what would fit) are kept for callers; the message says all three."""

    def __init__(
        self, message: str, field: str | None = None, value: Any = None, allowed: str | None = None
    ):
        super().__init__(message)
        self.field, self.value, self.allowed = field, value, allowed


class ResourceError(ImbaclError):
    """A batch whose estimated memory exceeds what is available. ``field`` names the setting
    that drives the estimate, ``value`` is the estimate and ``limit`` the memory allowed (both
    in bytes); ``field_value`` is the driving setting's value and ``estimate`` the whole
    ``imbacl.resources.Estimate``, when known."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        value: float | None = None,
        limit: float | None = None,
        field_value: Any = None,
        estimate: Any = None,
    ):
        super().__init__(message)
        self.field, self.value, self.limit = field, value, limit
        self.field_value, self.estimate = field_value, estimate


class NonFiniteError(ImbaclError, FloatingPointError):
    """A run's loss or weights stopped being finite (the message names the run and the step).
    ``run`` and ``step``, and ``field``/``value``/``limit`` (the setting to change, its value and
    a value that would do), are kept when the raiser gives them."""

    def __init__(
        self,
        message: str = "",
        run: int | None = None,
        step: int | None = None,
        field: str | None = None,
        value: Any = None,
        limit: Any = None,
    ):
        super().__init__(message)
        self.run, self.step = run, step
        self.field, self.value, self.limit = field, value, limit


class CompileError(ImbaclError, RuntimeError):
    """``compile=True`` could not build the training step."""


class ResultsFileError(ImbaclError, ValueError):
    """A results file that cannot be read: missing, truncated, not ours, or of another format
    version (the message names the file and what is wrong)."""


class ReproductionError(ImbaclError, AssertionError):
    """A run retrained here does not reproduce its cached record within the stated tolerance
    (or, on the machine kind that wrote the record, bit for bit)."""
