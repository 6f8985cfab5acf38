"""Training and evaluation: self-blended fakes (sbi), face cache and datasets (data), the
training loops and calibration (trainer, calibration), metrics and plots (metrics, evaluate),
and publishing a run into models/ (publish)."""
