"""imbacl: contrastive learning under imbalanced feature frequencies, simulated and measured."""
from .config import Config, PRESETS, preset
from .train import History, NonFiniteError, train
from . import data, loss, metrics, model, plots, report, sweep, theory

__all__ = ["Config", "PRESETS", "preset", "History", "NonFiniteError", "train",
           "data", "loss", "metrics", "model", "plots", "report", "sweep", "theory"]
__version__ = "0.1.0"
