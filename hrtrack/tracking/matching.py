"""One-to-one assignment of current poses (rows) to tracks (columns) from a similarity matrix.

Both matchers take an (N,M) similarity (higher = more alike) and a threshold,
and return `(rows, cols)`, two (P,) int64 arrays of matched pairs, every pair
with similarity strictly above the threshold, each row and column used at most
once. The tracker picks one by name from `MATCHERS`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..errors import HrtrackError

Matcher = Callable[[np.ndarray, float], tuple[np.ndarray, np.ndarray]]


def _check_similarity(similarity: np.ndarray) -> np.ndarray:
    sim = np.asarray(similarity, dtype=np.float64)
    if sim.ndim != 2:
        raise HrtrackError(f"similarity must have shape (N,M), got {sim.shape}")
    if np.isnan(sim).any():
        raise HrtrackError("similarity contains NaN")
    return sim


def greedy_match(similarity: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Repeatedly take the most similar remaining pair above `threshold`.

    Greedy is the default because it is what FlowTrack (and hence the paper's
    PoseTrack numbers) uses: the most confident pair, usually the same person
    moved by flow, is never given up to raise the sum of weaker pairs as the
    Hungarian optimum may do. Ties go to the first pair in row-major order.

    Args:
        similarity: (N,M) similarity of current poses to tracks.
        threshold: pairs at or below this are never matched.

    Returns:
        (rows, cols) int64 arrays of matched pairs, in the order they were taken.
    """
    sim = _check_similarity(similarity).copy()
    rows: list[int] = []
    cols: list[int] = []
    for _ in range(min(sim.shape)):
        r, c = np.unravel_index(np.argmax(sim), sim.shape)
        if not sim[r, c] > threshold:
            break
        rows.append(int(r))
        cols.append(int(c))
        sim[r, :] = -np.inf
        sim[:, c] = -np.inf
    return np.asarray(rows, np.int64), np.asarray(cols, np.int64)


def hungarian_match(similarity: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Assignment maximising the total similarity of pairs above `threshold` (scipy).

    Pairs at or below the threshold are worth nothing to the optimiser and are
    dropped from its answer. Similarities are expected to be non-negative.

    Args:
        similarity: (N,M) similarity of current poses to tracks.
        threshold: pairs at or below this are never matched.

    Returns:
        (rows, cols) int64 arrays of matched pairs, by increasing row.
    """
    sim = _check_similarity(similarity)
    allowed = sim > threshold
    if sim.size == 0 or not allowed.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # Forbidden pairs gain nothing, so the optimum never trades an allowed pair for one.
    gain = np.where(allowed, sim, 0.0)
    rows, cols = linear_sum_assignment(gain, maximize=True)
    ok = allowed[rows, cols]
    return rows[ok].astype(np.int64), cols[ok].astype(np.int64)


MATCHERS: dict[str, Matcher] = {
    "greedy": greedy_match,
    "hungarian": hungarian_match,
}
