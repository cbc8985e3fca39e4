"""aistack: a command-line calculator for planning AI infrastructure."""

__version__ = "0.1.0"
