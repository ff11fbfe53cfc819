"""transposer: texture expansion with the Transposer network (Liu et al., 2020)."""

__version__ = "0.1.0"
