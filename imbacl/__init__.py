"""imbacl: contrastive learning under imbalanced feature frequencies, simulated and measured."""

from ._version import __version__ as __version__
from .config import Config, PRESETS, RHO_ARMS, at_ratio, preset
from .errors import (
    CompileError,
    ConfigError,
    ImbaclError,
    NonFiniteError,
    ReproductionError,
    ResourceError,
    ResultsFileError,
)
from .train import History, train
from . import (
    animate,
    data,
    digits,
    fits,
    io,
    loss,
    metrics,
    model,
    plots,
    probe,
    remedies,
    report,
    scaling,
    sources,
    stream,
    sweep,
    theory,
)

__all__ = [
    "Config",
    "PRESETS",
    "preset",
    "RHO_ARMS",
    "at_ratio",
    "History",
    "train",
    "ImbaclError",
    "ConfigError",
    "ResourceError",
    "NonFiniteError",
    "CompileError",
    "ResultsFileError",
    "ReproductionError",
    "animate",
    "data",
    "digits",
    "fits",
    "io",
    "loss",
    "metrics",
    "model",
    "plots",
    "probe",
    "remedies",
    "report",
    "scaling",
    "sources",
    "stream",
    "sweep",
    "theory",
]


def __getattr__(name):
    # imbacl.widgets (the ipywidgets explorers) is imported on first use, so that importing the
    # package needs no ipywidgets.
    if name == "widgets":
        import importlib

        return importlib.import_module(".widgets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
