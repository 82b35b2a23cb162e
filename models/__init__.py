"""Detector models: ONNX weights, training, evaluation and export code."""
