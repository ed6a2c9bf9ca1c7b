"""Reusable Keras layers (no model-specific logic)."""
from zoo.autograph import leave_keras_unconverted

leave_keras_unconverted()  # before any layer is called (zoo/autograph.py)

from zoo.layers.fusion import ColumnSequence, MultiscaleFusion, column_windows, columns, pool_width
from zoo.layers.residual import ResidualBlock
from zoo.layers.sru import SRU, BidirectionalSRU, cell_recurrence

__all__ = [
    "SRU",
    "BidirectionalSRU",
    "ColumnSequence",
    "MultiscaleFusion",
    "ResidualBlock",
    "cell_recurrence",
    "column_windows",
    "columns",
    "pool_width",
]
