"""Serving top-K beyond brute force: an approximate inner-product index over the item tower (faiss IVF or HNSW),
with each user's known items filtered out, beside the exact full ranking it approximates.

A two-tower score is ``cos(u, v_i) + τ b_i`` (``TwoTowerCF.scores``): the inner product of ``[u, 1, 0]`` with
``[v_i, τ b_i, √(M² − 1 − (τ b_i)²)]``, M the largest norm of ``[v_i, τ b_i]``. The last coordinate changes no score
(the user's is 0) but gives every item the same norm M, which turns the maximum inner product search into a nearest
neighbour search (Bachrach et al., RecSys 2014): IVF's cells and HNSW's graph are built for the latter, and on the
raw vectors they lose the items whose bias, not direction, makes them score.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import NamedTuple

import faiss
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from dqrec.cf.artifacts import check_matches, load_trained, trained_fit_config
from dqrec.cf.fit import attach_inputs
from dqrec.cf.model import TwoTowerCF
from dqrec.data.artifacts import read_interactions, read_items, read_users
from dqrec.evaluate.ranking import UserItems, top_k_scored
from dqrec.io import atomic_file
from dqrec.layout import Workspace
from dqrec.quantize.sid_tables import read_sids

log = logging.getLogger(__name__)


class IndexKind(StrEnum):
    EXACT = "exact"  # every item scored (batched): the evaluation protocol's ranking
    IVF = "ivf"  # faiss IndexIVFFlat: items in n_lists k-means cells, n_probe cells searched per user
    HNSW = "hnsw"  # faiss IndexHNSWFlat: a navigable small-world graph


@dataclass(frozen=True)
class IndexConfig:
    kind: IndexKind = IndexKind.EXACT
    n_lists: int = 0  # IVF cells (0: 4 √I, faiss's rule of thumb)
    # The search widths that found >= 0.95 of the exact top 20 on a 320k-item catalogue (docs/benchmarks.md).
    n_probe: int = 128  # IVF cells searched per user: more is slower and closer to exact
    hnsw_neighbours: int = 32  # HNSW's M: graph degree
    ef_search: int = 512  # HNSW's candidate list per search (raised to what a batch must fetch)
    seed: int = 2025  # IVF's k-means

    def __post_init__(self) -> None:
        for name in ("n_probe", "hnsw_neighbours", "ef_search"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a positive number, got {getattr(self, name)}")
        if self.n_lists < 0:
            raise ValueError(f"n_lists: expected a number of cells >= 0 (0: 4 √items), got {self.n_lists}")


EXACT = IndexConfig()  # the default: every item scored


class Served(NamedTuple):
    """A trained variant ready to serve, with what it serves from."""

    model: TwoTowerCF
    users: pd.DataFrame  # the ingest stage's user table (dense id -> raw id)
    items: pd.DataFrame  # and its item table
    known: UserItems  # every interaction the dataset records: never recommended


def load_served(workspace: Workspace, variant: str) -> Served:
    """Variant ``variant`` of a workspace, its inputs attached: each user's history is everything the dataset records
    for them (the model serves 'now'). Raises FileNotFoundError (not trained) or WorkspaceMismatch (its id maps or
    SID tables are not the workspace's)."""
    model = load_trained(workspace, variant)
    check_matches(workspace, model, ("id_maps", "sids"))  # a checkpoint means nothing with other ids or codes
    users, items = read_users(workspace.ingest_dir), read_items(workspace.ingest_dir)
    history = read_interactions(workspace.ingest_dir)
    sids = read_sids(workspace.sids_dir) if variant != "base" else None
    attach_inputs(model, history, users, items, sids, trained_fit_config(model))
    return Served(model, users, items, UserItems.from_frame(history, len(users), len(items)))


class Ranked(NamedTuple):
    items: np.ndarray  # (U, k) item ids, best first; -1 where fewer than k unknown items were found
    scores: np.ndarray  # (U, k) float32 model scores; -inf where items is -1


@torch.no_grad()
def item_matrix(model: TwoTowerCF) -> np.ndarray:
    """(I, D + 2) float32: each item's tower vector, its scaled bias (0 without one) and the coordinate that brings
    every row to the same norm."""
    vectors = model.item_vectors(torch.arange(model.n_items, device=model.device)).double()  # (I, D)
    bias = (model.config.temperature * model.item_bias.weight.double() if model.item_bias is not None
            else torch.zeros(model.n_items, 1, dtype=torch.float64, device=model.device))  # (I, 1)
    scored = torch.cat([vectors, bias], dim=1)  # (I, D + 1)
    squared = scored.pow(2).sum(1, keepdim=True)  # (I, 1)
    level = (squared.max() - squared).clamp(min=0).sqrt()  # (I, 1)
    return np.ascontiguousarray(torch.cat([scored, level], dim=1).float().cpu().numpy())


@torch.no_grad()
def user_matrix(model: TwoTowerCF, users: np.ndarray) -> np.ndarray:
    """(B, D + 2) float32: each user's tower vector, a 1 that picks up the item bias, a 0 for the level."""
    vectors = model.user_vectors(torch.tensor(users, device=model.device))  # (B, D)
    ones, zeros = torch.ones(len(users), 1, device=model.device), torch.zeros(len(users), 1, device=model.device)
    return np.ascontiguousarray(torch.cat([vectors, ones, zeros], dim=1).float().cpu().numpy())


def build_index(items: np.ndarray, config: IndexConfig) -> faiss.Index:
    """An inner-product index over ``items`` (I, D') float32 of the configured kind (not EXACT)."""
    n, dim = items.shape
    start = time.perf_counter()
    if config.kind is IndexKind.IVF:
        n_lists = config.n_lists or max(1, min(n // 39, round(4 * np.sqrt(n))))  # faiss wants >= 39 items a cell
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, n_lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed = config.seed
        index.train(items)
        index.nprobe = min(config.n_probe, n_lists)
    elif config.kind is IndexKind.HNSW:
        index = faiss.IndexHNSWFlat(dim, config.hnsw_neighbours, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.ef_search
    else:
        raise ValueError(f"build_index: no index for kind '{config.kind}' (exact ranking scores every item)")
    index.add(items)
    log.info("built the %s index over %d items in %.1f s", config.kind.value, n, time.perf_counter() - start)
    return index


def first_usable(ids: np.ndarray, scores: np.ndarray, usable: np.ndarray, k: int) -> Ranked:
    """Of each row's candidates ``ids`` (B, F), best first, the first ``k`` that are ``usable`` (B, F); -1 (and
    -inf) where fewer are."""
    order = np.argsort(~usable, axis=1, kind="stable")[:, :k]  # usable candidates first, in rank order
    chosen = np.take_along_axis(usable, order, axis=1)
    items = np.where(chosen, np.take_along_axis(ids, order, axis=1), -1)
    return Ranked(items, np.where(chosen, np.take_along_axis(scores, order, axis=1), -np.inf).astype(np.float32))


def _first_unknown(ids: np.ndarray, scores: np.ndarray, users: np.ndarray, known: UserItems, k: int) -> Ranked:
    """Of each row's candidates (best first, -1 for none), the first ``k`` that ``known`` does not pair with it."""
    return first_usable(ids, scores, (ids >= 0) & ~known.contains(users, np.maximum(ids, 0)), k)


def search_index(index: faiss.Index, model: TwoTowerCF, users: np.ndarray, known: UserItems, k: int,
                 batch_size: int = 1024) -> Ranked:
    """Each user's top ``k`` unknown items from ``index``. A user's known items can take index results, so each
    batch fetches k + the most known items of any of its users; batches group users of similar history length."""
    result_items = np.full((len(users), k), -1, dtype=np.int64)
    result_scores = np.full((len(users), k), -np.inf, dtype=np.float32)
    by_history = np.argsort(known.counts(users), kind="stable")
    hnsw = index.hnsw if isinstance(index, faiss.IndexHNSWFlat) else None
    ef_search = hnsw.efSearch if hnsw is not None else 0
    try:
        for start in range(0, len(users), batch_size):
            rows = by_history[start : start + batch_size]
            batch = users[rows]
            fetch = int(min(index.ntotal, k + known.counts(batch).max()))
            if hnsw is not None:  # HNSW returns at most efSearch results
                hnsw.efSearch = max(ef_search, fetch)
            scores, ids = index.search(user_matrix(model, batch), fetch)  # (B, fetch) each
            ranked = _first_unknown(ids, scores, batch, known, k)
            result_items[rows], result_scores[rows] = ranked.items, ranked.scores
    finally:
        if hnsw is not None:
            hnsw.efSearch = ef_search
    return Ranked(result_items, result_scores)


@torch.no_grad()
def exact_top_items(model: TwoTowerCF, users: np.ndarray, known: UserItems, k: int, batch_size: int = 1024
                    ) -> Ranked:
    """Each user's top ``k`` unknown items by scoring every item (the evaluation's ranking), with their scores."""
    item_vectors = model.item_vectors(torch.arange(model.n_items, device=model.device))  # (I, D)
    ranked, scores = top_k_scored(lambda batch: model.scores(batch, item_vectors), users, known, k, batch_size)
    # Fewer than k unknown items: the tail holds known ones, scored -inf: mark them as none.
    tail = np.isneginf(scores)
    return Ranked(np.where(tail, -1, ranked), scores)


def top_items(model: TwoTowerCF, users: np.ndarray, known: UserItems, k: int,
              config: IndexConfig = EXACT, index: faiss.Index | None = None) -> Ranked:
    """Each user's top ``k`` items that ``known`` does not pair with them: exact, or from ``index`` (built from
    ``config`` when not given)."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, model.n_items)
    if config.kind is IndexKind.EXACT:
        return exact_top_items(model, users, known, k)
    return search_index(index if index is not None else build_index(item_matrix(model), config), model, users,
                        known, k)


def recall_against_exact(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each user's exact top-k (−1 pads ignored) that the approximate top-k also holds."""
    found = (approximate[:, :, None] == exact[:, None, :]).any(1) & (exact >= 0)  # (U, k)
    return float((found.sum(1) / np.maximum(1, (exact >= 0).sum(1))).mean())


def export_top_items(model: TwoTowerCF, known: UserItems, k: int, path: Path, user_ids: np.ndarray,
                     item_ids: np.ndarray, config: IndexConfig = EXACT, chunk_users: int = 50_000) -> int:
    """Every user's top ``k`` unknown items as Parquet at ``path`` (user, rank, item, score; the dataset's own ids
    ``user_ids`` (U,) and ``item_ids`` (I,)), written chunk by chunk so memory holds one chunk, and replacing
    ``path`` only once complete. Returns the rows written."""
    schema = pa.schema([("user", pa.string()), ("rank", pa.int32()), ("item", pa.string()), ("score", pa.float32())])
    index = None if config.kind is IndexKind.EXACT else build_index(item_matrix(model), config)
    users = np.arange(len(user_ids))
    rows = 0
    start = time.perf_counter()
    with atomic_file(path) as stream, pq.ParquetWriter(stream, schema) as writer:
        for first in range(0, len(users), chunk_users):
            chunk = users[first : first + chunk_users]
            ranked = top_items(model, chunk, known, k, config, index)
            kept = ranked.items >= 0  # (B, k): users who know all but j < k items get j rows
            user_rows, ranks = np.nonzero(kept)
            writer.write_table(pa.table({
                "user": pa.array(user_ids[chunk[user_rows]].astype(str)), "rank": pa.array(ranks + 1, pa.int32()),
                "item": pa.array(item_ids[ranked.items[kept]].astype(str)),
                "score": pa.array(ranked.scores[kept], pa.float32())}, schema=schema))
            rows += int(kept.sum())
            done = first + len(chunk)
            log.info("exported %d of %d users (%.0f %%), %.0f users/s", done, len(users), 100 * done / len(users),
                     done / (time.perf_counter() - start))
    return rows
