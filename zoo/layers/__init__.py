"""Reusable Keras layers (no model-specific logic)."""
