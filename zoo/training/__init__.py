"""Training loops for the zoo's families (used by ``scorezoo train`` and the TFX Trainer's run_fn)."""
