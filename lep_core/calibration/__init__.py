"""Calibration after propagation: self-calibration on the original model's answers, continued instruction tuning."""
