"""A graph view of users and items, to stand beside the behaviour view in Z before the SVD.

The behaviour view comes from towers trained on sampled pairs, each user read as a bag of their own items: what it
knows of the interaction graph beyond one hop, it learns slowly and partially. The graph view is the graph's own
low-frequency structure, computed in closed form: the leading singular vectors of the symmetrically normalised
interaction matrix R̃ = D_u^{-1/2} R D_i^{-1/2} (train split), the ideal low-pass filter of graph filtering CF
(GF-CF, Shen et al., CIKM 2021). Users and items whose neighbourhoods several hops out coincide get nearby rows,
so they share codes, whether or not the two towers brought them together.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from dqrec.represent.text import unit_rows


class GraphView(NamedTuple):
    users: np.ndarray  # (U, g) float32, unit rows (zero for a user without training interactions)
    items: np.ndarray  # (I, g) float32, unit rows (zero for an item without training interactions)
    singular_values: np.ndarray  # (g,) float32, the kept singular values of R̃, largest first


def normalised_interactions(train: pd.DataFrame, n_users: int, n_items: int) -> torch.Tensor:
    """(U, I) sparse COO R̃ = D_u^{-1/2} R D_i^{-1/2}, R the binary train interactions (repeats counted once)."""
    pairs = train[["user_id", "item_id"]].drop_duplicates().to_numpy()  # (E, 2)
    user_degree = np.bincount(pairs[:, 0], minlength=n_users).astype(np.float64)
    item_degree = np.bincount(pairs[:, 1], minlength=n_items).astype(np.float64)
    values = 1.0 / np.sqrt(user_degree[pairs[:, 0]] * item_degree[pairs[:, 1]])  # (E,)
    return torch.sparse_coo_tensor(torch.from_numpy(pairs.T.copy()), torch.from_numpy(values), (n_users, n_items),
                                   check_invariants=True).coalesce()


def graph_view(train: pd.DataFrame, n_users: int, n_items: int, dim: int, seed: int) -> GraphView:
    """Users' and items' rows of the rank-``dim`` low-pass filter of R̃: U_k Σ_k^{1/2} and V_k Σ_k^{1/2}, with
    the leading pair left out, each row of unit length. The leading singular vectors of R̃ (singular value 1 on a
    connected graph) are the square roots of the degrees: activity and popularity, which the CF model's own bias
    and history terms carry; what is kept is how neighbourhoods differ."""
    matrix = normalised_interactions(train, n_users, n_items)  # (U, I)
    if dim + 1 > min(n_users, n_items):
        raise ValueError(f"pretrain.graph_dim {dim} exceeds what {n_users} users x {n_items} items can give "
                         "(at most one less than the smaller)")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    # The spectrum of R̃ decays slowly, so a randomised SVD of width g + 1 mixes the last kept directions with the
    # next ones; twice the width (oversampling) and more power iterations than the text view's pin them down.
    width = min(2 * (dim + 1), n_users, n_items)
    u, s, v = torch.svd_lowrank(matrix, q=width, niter=10)  # (U, w), (w,), (I, w)
    torch.random.set_rng_state(generator_state)
    u, s, v = u[:, 1:dim + 1], s[1:dim + 1], v[:, 1:dim + 1]  # (U, g), (g,), (I, g)
    # A singular pair's sign is arbitrary; fix it (by the item side's largest entry) so that reruns agree.
    signs = torch.sign(v[v.abs().argmax(0), torch.arange(dim)])
    signs = torch.where(signs == 0, 1.0, signs)
    root = s.sqrt()
    users = unit_rows((u * signs * root).numpy().astype(np.float64)).astype(np.float32)
    items = unit_rows((v * signs * root).numpy().astype(np.float64)).astype(np.float32)
    return GraphView(users, items, s.numpy().astype(np.float32))
