"""A text view of items and users, to stand beside the behaviour view in Z before the SVD.

The CF towers see ids, attribute tokens and histories; what an item's title and description say reaches them
only through these. The text view carries it into the SIDs: items that read alike share codes, whether or not the
same users bought them. Local and model-free (no download): TF-IDF over the item's text, then a seeded truncated
SVD; a user's text vector is the mean of the text vectors of their training items.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

# Fields read, in this order, where the items table has them: the free text and the attribute names' own words.
TEXT_FIELDS = ("title", "description")
_TOKEN = re.compile(r"[a-z0-9]{2,}")
MIN_ITEMS = 2  # a word in fewer items links nothing
MAX_SHARE = 0.5  # a word in more than half of the items tells them apart from nothing


class TextView(NamedTuple):
    users: np.ndarray  # (U, t) float32, unit rows (zero for a user whose training items have no text)
    items: np.ndarray  # (I, t) float32, unit rows (zero for an item without text)
    vocabulary: int  # words kept
    items_with_text: int


def item_texts(items: pd.DataFrame) -> list[str]:
    """Each item's text fields joined, lower-cased ('' where it has none)."""
    fields = [f for f in TEXT_FIELDS if f in items]
    if not fields:
        raise ValueError(f"the items table has no text ({' or '.join(TEXT_FIELDS)} columns): the text view "
                         "needs a dataset with item text (set pretrain.text_dim to 0)")
    columns = [items[f].fillna("").astype(str) for f in fields]
    return [" ".join(parts).lower() for parts in zip(*columns, strict=True)]


def tfidf(texts: list[str]) -> tuple[torch.Tensor, np.ndarray]:
    """(I, V) sparse COO: sublinear term frequency x smoothed idf, rows L2-normalised; words in fewer than
    MIN_ITEMS items or more than MAX_SHARE of them are left out. Also (I,) bool: the rows with a word kept."""
    counts = [Counter(_TOKEN.findall(text)) for text in texts]
    document_frequency = Counter(word for count in counts for word in count)
    kept = sorted(w for w, n in document_frequency.items() if MIN_ITEMS <= n <= MAX_SHARE * len(texts))
    vocabulary = {word: column for column, word in enumerate(kept)}
    idf = np.log((1 + len(texts)) / (1 + np.array([document_frequency[w] for w in kept], dtype=np.float64))) + 1.0
    rows, columns, values = [], [], []
    for row, count in enumerate(counts):
        words = [(vocabulary[w], n) for w, n in count.items() if w in vocabulary]
        if not words:
            continue
        cols = np.array([c for c, _ in words])
        weights = (1.0 + np.log(np.array([n for _, n in words], dtype=np.float64))) * idf[cols]
        rows.append(np.full(len(cols), row))
        columns.append(cols)
        values.append(weights / np.linalg.norm(weights))
    if not rows:
        raise ValueError("no word of the item text occurs in two items or more: nothing for a text view to share")
    indices = torch.from_numpy(np.stack([np.concatenate(rows), np.concatenate(columns)]))
    has_text = np.zeros(len(texts), dtype=bool)
    has_text[[r[0] for r in rows]] = True
    matrix = torch.sparse_coo_tensor(indices, torch.from_numpy(np.concatenate(values)), (len(texts), len(vocabulary)),
                                     check_invariants=True)
    return matrix.coalesce(), has_text


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def text_view(items: pd.DataFrame, train: pd.DataFrame, n_users: int, dim: int, seed: int) -> TextView:
    """Item text vectors (truncated SVD of the TF-IDF matrix, seeded) and user text vectors (mean over the
    user's training items), each row of unit length."""
    matrix, has_text = tfidf(item_texts(items))  # (I, V), (I,)
    if dim > min(matrix.shape):
        raise ValueError(f"pretrain.text_dim {dim} exceeds what {matrix.shape[0]} items x {matrix.shape[1]} "
                         "words can give")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    u, s, _ = torch.svd_lowrank(matrix, q=dim, niter=6)  # (I, t), (t,)
    torch.random.set_rng_state(generator_state)
    # A singular vector's sign is arbitrary; fix it so that reruns give identical views.
    signs = torch.sign(u[u.abs().argmax(0), torch.arange(dim)])
    u = u * torch.where(signs == 0, 1.0, signs)
    item_vectors = unit_rows((u * s).numpy().astype(np.float64))
    item_vectors[~has_text] = 0.0
    users, items_of = train["user_id"].to_numpy(), train["item_id"].to_numpy()
    user_sums = np.zeros((n_users, dim))
    np.add.at(user_sums, users, item_vectors[items_of])
    return TextView(unit_rows(user_sums).astype(np.float32), item_vectors.astype(np.float32), matrix.shape[1],
                    int(has_text.sum()))


def with_views(z: np.ndarray, views: list[tuple[np.ndarray, float]]) -> np.ndarray:
    """[z | w_1 · view_1 | ...]: the behaviour view's unit rows beside each (unit-row) view's, so that each weight
    sets that view's share of the variance the SVD divides into SID blocks."""
    return np.concatenate([unit_rows(z.astype(np.float64))] + [w * view for view, w in views],
                          axis=1).astype(np.float32)
