"""The pre-training two-tower encoder (a LightningModule).

User tower: the user's time-ordered training history, read by one of two history encoders, plus the user's
attribute embeddings, projected and L2-normalised:
- ``mean``: the mean of the history's item embeddings, the training target masked out of it (a bag: the pairs
  of one user share one history, later items included);
- ``gru``: a GRU over the item embeddings in time order, its last state; trained causally, next item from the
  items before it (a sequence: what the CF towers' bags cannot see is the order).
Item tower: item id embedding plus attribute embeddings, projected and L2-normalised.
Objective: sampled softmax over the in-batch positives plus uniformly sampled negatives, at temperature τ,
with accidental hits (a candidate equal to the row's positive) masked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from dqrec.represent.features import TimeOrdered
from dqrec.training import EmbeddingGradients, adam, manual_step, uses_sparse_embeddings


class HistoryEncoder(StrEnum):
    """How the user tower reads the time-ordered history."""

    MEAN = "mean"  # a bag: order-blind, the target masked out of the user's whole history
    GRU = "gru"  # a sequence: causal, each training item predicted from the items before it


@dataclass(frozen=True)
class EncoderConfig:
    dim: int = 64
    history_encoder: HistoryEncoder = HistoryEncoder.MEAN
    temperature: float = 0.1
    n_negatives: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    embedding_gradients: EmbeddingGradients = EmbeddingGradients.AUTO  # sparse (lazy Adam) for large catalogues


def history_mean(table: nn.Embedding, history: torch.Tensor, masked_items: torch.Tensor | None = None,
                 offset: int = 0) -> torch.Tensor:
    """Mean embedding of each row's history items (B, H) of item id + 1, 0 padding, leaving out the row's
    ``masked_items`` (B,) (its training target, which must not predict itself) -> (B, D). ``offset`` is added
    to the history before the lookup: -1 for a table with no padding row."""
    # A weighted bag sums as it gathers: the (B, H, D) lookup is never materialised, forward or backward.
    return F.embedding_bag((history + offset).clamp(min=0), table.weight, mode="sum",
                           per_sample_weights=history_weights(history, masked_items), sparse=table.sparse)


def history_weights(history: torch.Tensor, masked_items: torch.Tensor | None = None) -> torch.Tensor:
    """(B, H) history of item id + 1, 0 padding -> (B, H) weights of its mean: 1 / (kept entries) on each kept
    entry, 0 on pads and on the row's ``masked_items`` (B,)."""
    keep = history > 0
    if masked_items is not None:
        keep &= history != (masked_items + 1).unsqueeze(1)
    return keep / keep.sum(1, keepdim=True).clamp(min=1)


class AttributeEmbedding(nn.Module):
    """Sum over attributes of the mean embedding of each attribute's tokens (0 is padding)."""

    def __init__(self, vocabulary_sizes: dict[str, int], dim: int) -> None:
        super().__init__()
        self.bags = nn.ModuleDict(
            {name: nn.EmbeddingBag(size, dim, mode="mean", padding_idx=0) for name, size in vocabulary_sizes.items()}
        )

    def forward(self, tokens: dict[str, torch.Tensor]) -> torch.Tensor | None:  # each (B, A) -> (B, D)
        parts = [bag(tokens[name]) for name, bag in self.bags.items()]
        return torch.stack(parts).sum(0) if parts else None


class TokenTablesFollowTheModule:
    """For modules that keep attribute token tables in ``user_tokens`` / ``item_tokens`` dicts (one (N, A) tensor
    per attribute, as many as the dataset has): ``.to(device)`` moves them with the parameters and buffers."""

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 (torch.nn.Module's signature)
        module = super()._apply(fn, recurse)
        for name in ("user_tokens", "item_tokens"):
            setattr(self, name, {k: fn(v) for k, v in getattr(self, name, {}).items()})
        return module


class TwoTowerEncoder(TokenTablesFollowTheModule, L.LightningModule):
    def __init__(self, n_users: int, n_items: int, user_vocab: dict[str, int], item_vocab: dict[str, int],
                 config: EncoderConfig) -> None:
        super().__init__()
        self.save_hyperparameters({"n_users": n_users, "n_items": n_items, "user_vocab": user_vocab,
                                   "item_vocab": item_vocab, **asdict(config),
                                   "embedding_gradients": str(config.embedding_gradients),
                                   "history_encoder": str(config.history_encoder)})
        self.config = config
        self.n_items = n_items
        sparse = uses_sparse_embeddings(config.embedding_gradients, n_items, config.weight_decay)
        self.automatic_optimization = not sparse  # sparse: two optimisers (dense and lazy Adam), stepped by hand
        self.item_embedding = nn.Embedding(n_items + 1, config.dim, padding_idx=0, sparse=sparse)  # id + 1; 0 pads
        self.user_attributes = AttributeEmbedding(user_vocab, config.dim)
        self.item_attributes = AttributeEmbedding(item_vocab, config.dim)
        self.user_projection = nn.Linear(config.dim, config.dim)
        self.item_projection = nn.Linear(config.dim, config.dim)
        self.sequence = (nn.GRU(config.dim, config.dim, batch_first=True)
                         if HistoryEncoder(config.history_encoder) is HistoryEncoder.GRU else None)
        nn.init.normal_(self.item_embedding.weight, std=0.1)
        # Inputs, not parameters: set by attach_features, never saved in checkpoints.
        self.register_buffer("histories", torch.zeros(n_users, 1, dtype=torch.long), persistent=False)
        self.register_buffer("sequence_items", torch.zeros(0, dtype=torch.long), persistent=False)
        self.register_buffer("sequence_starts", torch.zeros(n_users, dtype=torch.long), persistent=False)
        self.user_tokens: dict[str, torch.Tensor] = {}
        self.item_tokens: dict[str, torch.Tensor] = {}

    def attach_features(self, histories: torch.Tensor, user_tokens: dict[str, torch.Tensor],
                        item_tokens: dict[str, torch.Tensor]) -> None:
        self.histories = histories  # (U, H)
        self.user_tokens = user_tokens  # name -> (U, A)
        self.item_tokens = item_tokens  # name -> (I, A)

    def attach_sequences(self, sequences: TimeOrdered) -> None:
        """The train split in time order, from which a causal batch gathers each pair's preceding items."""
        self.sequence_items = sequences.items  # (N,) item id + 1, users one after another
        self.sequence_starts = sequences.starts  # (U,) where each user's run begins

    def preceding_items(self, users: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """(B, H) left-padded histories of the items each row's user had before its position (B,) in the
        time-ordered train split: the causal counterpart of ``histories``."""
        length = self.histories.shape[1]
        window = positions.unsqueeze(1) - length + torch.arange(length, device=positions.device)  # (B, H)
        inside = window >= self.sequence_starts[users].unsqueeze(1)
        return torch.where(inside, self.sequence_items[window.clamp(min=0)], 0)

    @property
    def reads_order(self) -> bool:
        """Whether the user tower is the GRU, trained causally from ``preceding_items``."""
        return self.sequence is not None

    def item_vectors(self, items: torch.Tensor) -> torch.Tensor:  # (B,) -> (B, D)
        vectors = self.item_embedding(items + 1)
        attributes = self.item_attributes({k: v[items] for k, v in self.item_tokens.items()})
        if attributes is not None:
            vectors = vectors + attributes
        return F.normalize(self.item_projection(vectors), dim=-1)

    def user_vectors(self, users: torch.Tensor, masked_items: torch.Tensor | None = None,
                     histories: torch.Tensor | None = None) -> torch.Tensor:
        """(B, D) from ``histories`` (B, H) (default: the users' whole training histories)."""
        histories = self.histories[users] if histories is None else histories
        if self.sequence is None:
            vectors = history_mean(self.item_embedding, histories, masked_items)  # (B, D)
        else:
            # Left padding: a short history's GRU first reads zero vectors (padding_idx), the same for every
            # history of that length, and ends on the newest item.
            _, last = self.sequence(self.item_embedding(histories))  # last: (1, B, D)
            vectors = last.squeeze(0)
        attributes = self.user_attributes({k: v[users] for k, v in self.user_tokens.items()})
        if attributes is not None:
            vectors = vectors + attributes
        return F.normalize(self.user_projection(vectors), dim=-1)

    def sampled_softmax_loss(self, users: torch.Tensor, items: torch.Tensor,
                             positions: torch.Tensor | None = None) -> torch.Tensor:
        """Pairs (B,) each; with ``positions`` (B,) in the time-ordered train split, each user is read up to the
        pair only (causal), else from the whole history with the pair's item masked."""
        negatives = torch.randint(0, self.n_items, (self.config.n_negatives,), device=items.device)
        candidates = torch.cat([items, negatives])  # (B + N,)
        if positions is None:
            user = self.user_vectors(users, masked_items=items)  # (B, D)
        else:
            user = self.user_vectors(users, histories=self.preceding_items(users, positions))
        logits = user @ self.item_vectors(candidates).T / self.config.temperature  # (B, B + N)
        rows = torch.arange(len(items), device=items.device)
        accidental = candidates.unsqueeze(0) == items.unsqueeze(1)  # (B, B + N)
        accidental[rows, rows] = False
        return F.cross_entropy(logits.masked_fill(accidental, float("-inf")), rows)

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        loss = self.sampled_softmax_loss(*batch)
        self.log("train_loss", loss, prog_bar=True, on_epoch=True, on_step=False, sync_dist=True)
        if not self.automatic_optimization:
            manual_step(self, loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.log("val_loss", self.sampled_softmax_loss(*batch), prog_bar=True, sync_dist=True)

    def configure_optimizers(self) -> torch.optim.Optimizer | list[torch.optim.Optimizer]:
        if not self.item_embedding.sparse:  # as every measured result was trained (not fused: same digits)
            return torch.optim.Adam(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)
        return adam(self, self.config.lr, self.config.weight_decay)

    @torch.no_grad()
    def representations(self, batch_size: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
        """Z_user (U, D) from each user's full training history, Z_item (I, D)."""
        self.eval()
        users = torch.arange(self.histories.shape[0], device=self.device)
        items = torch.arange(self.n_items, device=self.device)
        z_user = torch.cat([self.user_vectors(chunk) for chunk in users.split(batch_size)])
        z_item = torch.cat([self.item_vectors(chunk) for chunk in items.split(batch_size)])
        return z_user.cpu(), z_item.cpu()
