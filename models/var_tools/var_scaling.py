"""A plain NumPy reference of VAR-Scaling's candidate selection (DESIGN section 4).

Written for clarity, not speed: it produces the golden values that the TypeScript sampler is
checked against (densities, bandwidths, the mode test, the kept set, the pick probabilities).
"""
import numpy as np

SILVERMAN_EPS = 1e-6


def bandwidths(feats, pool_over_batch):
    """feats [B, N, P, d] -> bw [B, P]: mean over dims (and rows when pooled) of Silverman's h, + 1e-6."""
    B, N, P, d = feats.shape
    sd = feats.std(axis=1)  # population std over the N candidates: [B, P, d]
    factor = (N * (d + 2) / 4.0) ** (-1.0 / (d + 4))
    h = factor * sd
    if pool_over_batch:
        bw = np.broadcast_to(h.mean(axis=(0, 2))[None, :], (B, P))
    else:
        bw = h.mean(axis=2)
    return bw + SILVERMAN_EPS


def densities(feats, ids=None, kernel='gaussian', pool_over_batch=False):
    """Unnormalised KDE score of every candidate, summed over positions: D [B, N] (self term included).

    kernel 'exactMatch' counts, per position, the candidates holding the same token id (ids [B, N, P]).
    """
    B, N, P, d = feats.shape
    D = np.zeros((B, N))
    bw = bandwidths(feats, pool_over_batch)
    for b in range(B):
        for p in range(P):
            if kernel == 'exactMatch':
                same = ids[b, :, p][:, None] == ids[b, :, p][None, :]
                D[b] += same.sum(axis=1)
            else:
                x = feats[b, :, p, :].astype(np.float64)
                d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
                D[b] += np.exp(-d2 / (2.0 * bw[b, p] ** 2)).sum(axis=1)
    return D, bw


def select(feats_row, D_row, alpha, k, dedup, permutation):
    """One row: mode test, scan order, dedup-limited kept set, pick probabilities.

    feats_row [N, P, d]; permutation: the random scan order used when the mode test fails.
    Top-k order is by descending D with ties broken by the lower index.
    """
    N = D_row.shape[0]
    ratio = float(D_row.max() / D_row.mean())
    top = ratio >= alpha
    order = sorted(range(N), key=lambda i: (-D_row[i], i)) if top else list(permutation)
    flat = feats_row.reshape(N, -1).astype(np.float64)
    kept = []
    for i in order:
        if len(kept) >= k:
            break
        ok = True
        for j in kept:
            dist = np.sqrt(((flat[i] - flat[j]) ** 2).sum())
            if dist == 0 or dist < dedup:
                ok = False
                break
        if ok:
            kept.append(int(i))
    w = np.array([D_row[i] for i in kept])
    probs = w / w.sum()
    return {'ratio': ratio, 'branch': 'top-k' if top else 'random-k', 'order': [int(i) for i in order],
            'kept': kept, 'probs': probs.tolist()}
