"""aistack: a command-line calculator for planning AI infrastructure."""

__version__ = "0.2.0.dev0"
