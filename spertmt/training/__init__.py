"""Training a model: the training loop with evaluation, checkpoints, resume and logs (trainer.py)
and SpERT's optimizer (optim.py). Imports the model, data, inference and evaluation layers."""
