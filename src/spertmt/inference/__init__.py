"""Using a trained model: the Extractor and file streaming (extractor.py), the batch pipeline from
documents to typed predictions (pipeline.py), θ tuned on a dev set (thresholds.py), and the HTML
view of predictions (visualize.py). Imports the model, data and evaluation layers, never training."""
