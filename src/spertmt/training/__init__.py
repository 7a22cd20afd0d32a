"""Training a model: the `Trainer` and its loop of steps (trainer.py), the behaviours around the
steps as callbacks (callbacks.py; resume.py; final.py for θ selection and test scoring), scoring
during training (scoring.py), weight averaging (averaging.py) and SpERT's optimizer (optim.py).
Imports the model, data, inference and evaluation layers."""

from .callbacks import Callback, EarlyStopping, StepEnd, TrainerState
from .trainer import Trainer, default_callbacks, train

__all__ = ["Callback", "EarlyStopping", "StepEnd", "Trainer", "TrainerState", "default_callbacks", "train"]
