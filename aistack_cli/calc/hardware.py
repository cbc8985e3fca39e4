"""What one accelerator achieves for an operation: GEMMs, flash attention and memory-bound kernels.

A GEMM of m×k by k×n takes the longer of its FLOP at the achievable fraction of the dense peak
and its bytes (both inputs and the output) at the achievable fraction of memory bandwidth: the
roofline of Williams et al. 2009 (CACM 52(4)), which is where a GEMM's shape enters (small or thin
GEMMs turn memory-bound). Flash attention runs at its own fraction of the 16-bit peak (it stays
16-bit in FP8 recipes); elementwise kernels (norms, activations, residuals, casts) move bytes at
the achievable memory bandwidth. The fractions are data per accelerator family and precision
(specs/defaults/training.yaml), not constants here.
"""

from __future__ import annotations

from dataclasses import dataclass

SRC_ROOFLINE = "Williams, Waterman & Patterson 2009 (CACM 52(4)): time = max(FLOP / compute rate, bytes / bandwidth)"


@dataclass(frozen=True)
class Chip:
    """Achievable rates of one accelerator for a training step.

    ``gemm_flop_per_s`` is the dense peak at the GEMM precision times its achievable fraction;
    ``wide_flop_per_s`` the same at 16 bits (the output layer, which recipes keep in 16 bits);
    ``attention_flop_per_s`` flash attention's achieved rate; ``memory_bytes_per_s`` achieved
    bandwidth for memory-bound kernels; ``gemm_bytes`` bytes per GEMM input element.
    """

    gemm_flop_per_s: float
    wide_flop_per_s: float
    attention_flop_per_s: float
    memory_bytes_per_s: float
    gemm_bytes: float = 2.0


def gemm_s(chip: Chip, m: float, k: float, n: float, wide: bool = False) -> float:
    """One GEMM (m×k)·(k×n): max(2mkn ÷ achieved FLOP/s, (inputs + 16-bit output) ÷ achieved bandwidth)."""
    rate = chip.wide_flop_per_s if wide else chip.gemm_flop_per_s
    element = 2.0 if wide else chip.gemm_bytes
    flop_s = 2.0 * m * k * n / rate
    bytes_s = (element * (m * k + k * n) + 2.0 * m * n) / chip.memory_bytes_per_s
    return flop_s if flop_s > bytes_s else bytes_s


def attention_s(chip: Chip, flop: float) -> float:
    return flop / chip.attention_flop_per_s


def memory_s(chip: Chip, size_bytes: float) -> float:
    return size_bytes / chip.memory_bytes_per_s
