"""Using a trained model: the one loader (loading.py), the engines behind one boundary and the
inference loop they share (engines/), the Extractor and file streaming (extractor.py,
streaming.py), θ tuned and probabilities calibrated on a dev set (thresholds.py, calibration.py),
and the HTML view of predictions (visualize.py). Imports the model, data and evaluation layers,
never training."""
