"""The assignment solver of CLEAR-MOT accumulators, as motmetrics runs it, without importing motmetrics.

motmetrics (`motmetrics.lap.linear_sum_assignment`, with scipy as its solver, the
only one poseval's environment has) marks impossible pairs with NaN or inf and
hands scipy a finite matrix: every impossible pair costs 2 r c + 1, where r is
the smaller side and c = 1 + the largest absolute possible cost, so that taking
one of them is dearer than any assignment of possible pairs; impossible pairs
are then dropped from scipy's answer. Built the same way, the matrix scipy sees
is the same, and so is its answer, ties included.

So the pairs kept are a matching of possible pairs with the most pairs and, among
those, the least total cost. When a handful of possible pairs has one such
matching, better than every other by far more than rounding, scipy can only
return that one: it is found here by listing the matchings, which spares
importing scipy.optimize (a third of a second, more than the rest of a small
evaluation). Ties, near-ties and larger problems go to scipy.
"""

from __future__ import annotations

import numpy as np

# Most possible pairs whose matchings (subsets of the pairs) are listed rather than solved by scipy.
ENUMERATED_PAIRS = 12
# Margin, relative to the magnitudes scipy sums, by which the best matching must beat the others.
_MARGIN = 1e-9


def linear_sum_assignment(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching of a (R,C) cost matrix whose NaN or inf entries cannot be matched.

    Returns (rows, cols): int arrays of the matched pairs, rows ascending,
    impossible pairs left out. Equal to motmetrics' `linear_sum_assignment`
    with its scipy solver (module docstring).
    """
    costs = np.asarray(costs, np.float64)
    valid = np.isfinite(costs)
    if not valid.any():
        return np.zeros(0, int), np.zeros(0, int)
    c = np.abs(costs[valid]).max() + 1
    impossible = 2 * min(costs.shape) * c + 1
    listed = _unique_best_matching(costs, valid, _MARGIN * impossible * min(costs.shape))
    if listed is not None:
        return listed
    # scipy.optimize takes a third of a second to import: only load it when a problem needs it.
    from scipy.optimize import linear_sum_assignment as solve

    rows, cols = solve(np.where(valid, costs, impossible))
    keep = valid[rows, cols]
    return rows[keep].astype(int), cols[keep].astype(int)


def _unique_best_matching(costs: np.ndarray, valid: np.ndarray,
                          margin: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The matching of the `valid` pairs with the most pairs, then the least cost, listed over every subset
    of the pairs; None when another comes within `margin` of it or there are more than ENUMERATED_PAIRS pairs."""
    rows, cols = np.nonzero(valid)
    n = len(rows)
    if n > ENUMERATED_PAIRS:
        return None
    chosen = (np.arange(1 << n)[:, None] >> np.arange(n)[None, :]) & 1   # (2^n, n) every subset of the pairs
    per_row = chosen @ (rows[:, None] == np.unique(rows)[None, :])
    per_col = chosen @ (cols[:, None] == np.unique(cols)[None, :])
    matching = (per_row <= 1).all(1) & (per_col <= 1).all(1)
    size = chosen.sum(1)
    total = chosen @ costs[rows, cols]
    largest = matching & (size == size[matching].max())
    best = largest & (total <= total[largest].min() + margin)
    if best.sum() != 1:
        return None
    pick = chosen[np.argmax(best)].astype(bool)
    return rows[pick].astype(int), cols[pick].astype(int)


def max_weight_assignment(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy's maximum-weight assignment of a finite (R,C) matrix: (rows, cols) of min(R, C) pairs."""
    from scipy.optimize import linear_sum_assignment as solve

    return solve(weights, maximize=True)
