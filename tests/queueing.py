"""Queueing formulas the tests hold the simulator to, written independently of it.

Erlang B by its recursion, B(0) = 1, B(k) = a·B(k−1) / (k + a·B(k−1)), which stays
within [0, 1] and never forms the large powers and factorials of the closed form;
Erlang C from it.
"""

from __future__ import annotations


def erlang_b(c: int, a: float) -> float:
    """Blocking probability of M/G/c/c at offered load ``a`` Erlangs."""
    if c < 0 or a < 0:
        raise ValueError(f"need c >= 0 and a >= 0, got c={c}, a={a}")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Probability that an arrival to M/M/c waits (``a`` < ``c`` Erlangs)."""
    if not 0 <= a < c:
        raise ValueError(f"need 0 <= a < c for a stable queue, got c={c}, a={a}")
    b = erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))
