"""Model families: one module each; importing this package registers them all."""
