"""imbacl: contrastive learning under imbalanced feature frequencies, simulated and measured."""
from .config import Config, PRESETS, preset
from .train import CompileError, History, NonFiniteError, train
from . import data, loss, metrics, model, plots, probe, report, sweep, theory

__all__ = ["Config", "PRESETS", "preset", "History", "NonFiniteError", "CompileError", "train",
           "data", "loss", "metrics", "model", "plots", "probe", "report", "sweep", "theory"]
__version__ = "0.1.0"


def __getattr__(name):
    # imbacl.widgets (the ipywidgets explorers) is imported on first use, so that importing the
    # package needs no ipywidgets.
    if name == "widgets":
        import importlib
        return importlib.import_module(".widgets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
