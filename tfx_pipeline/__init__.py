"""The TFX pipeline that validates data, trains, evaluates and pushes zoo models."""
