"""Model families: one module each; importing this package registers them all."""
from zoo.models import generation, genre_cnn, omr, retrieval  # noqa: F401
