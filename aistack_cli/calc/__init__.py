"""Pure math, one module per calculator. Standard library only; no I/O, no printing."""
