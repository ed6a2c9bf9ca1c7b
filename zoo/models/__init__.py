"""Model families: one module each; importing this package registers them all."""
from zoo.autograph import leave_keras_unconverted

leave_keras_unconverted()  # before any model is built (zoo/autograph.py)

from zoo.models import generation, genre_cnn, omr, retrieval  # noqa: E402, F401
