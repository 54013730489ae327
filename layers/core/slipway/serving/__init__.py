"""Serving: the infer function's logic over the registry — request rows checked against the model's
data contract, models loaded from their recorded ONNX artifact, champion/challenger routing,
captures. Imports numpy, onnxruntime and pydantic only (the inference path stays lean)."""
