"""The domain core. Nothing below this package imports Qt (tests/test_layering.py checks)."""
