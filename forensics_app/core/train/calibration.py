"""Temperature scaling (Guo et al., ICML 2017): one scalar T so that sigmoid(logit / T) is a
calibrated probability on held-out data. It changes no ranking (AUC is unchanged), only what
"p_fake = 0.9" means, which the confidence bands rely on.
"""

from __future__ import annotations

import numpy as np


def binary_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of labels {0, 1} under sigmoid(logits / T)."""
    z = np.asarray(logits, np.float64) / temperature
    y = np.asarray(labels, np.float64)
    # log(1 + e^z) - y·z, computed stably
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05,
                    high: float = 50.0, steps: int = 400) -> float:
    """The T minimising the NLL: a log-spaced grid, then a golden-section refinement.

    Deterministic and robust when the validation set is small or perfectly separated (where
    the NLL keeps falling as T → 0, the grid's lower bound stops it).
    """
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.float64)
    if logits.size == 0 or len(set(labels.tolist())) < 2:
        return 1.0
    grid = np.geomspace(low, high, steps)
    losses = [binary_nll(logits, labels, t) for t in grid]
    best = int(np.argmin(losses))
    a = np.log(grid[max(best - 1, 0)])
    b = np.log(grid[min(best + 1, steps - 1)])
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(40):
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if binary_nll(logits, labels, np.exp(c)) < binary_nll(logits, labels, np.exp(d)):
            b = d
        else:
            a = c
    return float(np.exp((a + b) / 2))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-width bins of the predicted probability of the positive class."""
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, np.float64)
    if probs.size == 0:
        return float("nan")
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(probs, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = index == b
        if sel.any():
            total += sel.sum() * abs(probs[sel].mean() - labels[sel].mean())
    return float(total / probs.size)


def fit_platt(logits: np.ndarray, labels: np.ndarray, ridge: float = 1e-4
              ) -> tuple[float, float]:
    """Platt scaling written as a temperature and a shift: p = sigmoid((logit + shift) / T).

    Temperature scaling alone cannot move the decision point; when a model's held-out logits
    are all offset to one side (faces of people it never saw), the best single temperature
    squashes every probability towards 0.5. The shift is folded into the model's output bias
    (`fold_shift`), so the engine's p = sigmoid(logit / T) is unchanged in form.
    Fitted by damped Newton steps on the logistic NLL with a small ridge for separable data.
    """
    z = np.asarray(logits, np.float64)
    y = np.asarray(labels, np.float64)
    if z.size == 0 or len(set(y.tolist())) < 2:
        return 1.0, 0.0
    scale = max(float(np.std(z)), 1e-6)
    x = np.stack([z / scale, np.ones_like(z)], 1)
    w = np.zeros(2)

    def loss(w: np.ndarray) -> float:
        s = x @ w
        return float(np.mean(np.logaddexp(0.0, s) - y * s) + ridge * w[0] ** 2)

    current = loss(w)
    for _ in range(100):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) / len(y) + np.array([2 * ridge * w[0], 0.0])
        hess = (x.T * (p * (1 - p))) @ x / len(y) + np.diag([2 * ridge, 1e-9])
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-4 and loss(w - t * step) > current:
            t /= 2
        w = w - t * step
        new = loss(w)
        if current - new < 1e-12:
            current = new
            break
        current = new
    a, b = w[0] / scale, w[1]
    if a <= 1e-6:  # no usable ranking: fall back to temperature only
        return fit_temperature(z, y), 0.0
    return float(1 / a), float(b / a)
