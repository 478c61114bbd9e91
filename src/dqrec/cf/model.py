"""The SID-augmented two-tower CF model (a LightningModule); with both augmentations off it is the baseline.

User tower: (1 - g) · e_u + g · V · mean(e_i over the user's training history)   (SimpleX-style aggregation)
            + attribute embeddings [+ Σ_l S_l(c_l) SID code embeddings] [+ α · mean(e_u' over SID neighbours)]
Item tower: e_i + attribute embeddings [+ Σ_l S_l(c_l)] [+ α · mean(e_i' over SID neighbours)]
(feature augmentation adds the SID code embeddings to both towers, or to the one ``feature_towers`` names)
While training, ``sid_dropout`` drops each SID input of a tower (each level's code embedding, the neighbour mean)
per row, so that the ID path must rank on its own too. With ``sid_gate``, each SID input of a tower is scaled by its
own learnt gate that starts at zero: at initialisation the model is the baseline, and the SIDs enter only as far
as training finds them useful. With ``sid_shrinkage`` κ > 0, an entity's SID inputs are weighted by κ / (κ + n), n
its known interactions: a shrinkage prior, under which the shared codes speak for entities with little behaviour of
their own and fall silent for those whose ID embedding has plenty. With ``history_sids``, the user tower's history
aggregate averages each history item as the item tower sees it, e_i + Σ_l S_l(c_l(i)): a user whose items are rare
reads their shared codes, which other users' interactions have trained.
Both L2-normalised, scored by cosine. Losses:
- ``ccl`` (SimpleX's cosine contrastive loss): (1 - cos(u, i⁺)) + w · mean_j max(0, cos(u, j⁻) - margin)
- ``softmax``: sampled softmax over each positive, the shared uniform negatives and (optionally) the batch's other
  positives at temperature τ, plus (optionally) a learnt item bias b_i: logit = cos(u, i) / τ + b_i. Cosine
  scores cannot carry popularity in vector norms the way dot-product MF does; the bias gives it a place.
Uniform negatives are drawn once per batch and shared by its rows. With linkage on, an auxiliary InfoNCE loss
(weight λ) pulls batch users and items (up to LINKAGE_ROWS of each batch) towards one of their SID neighbours,
against the other rows' neighbours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from dqrec.configtree import runtime
from dqrec.evaluate.ranking import UserItems, ranking_metrics, top_k
from dqrec.represent.encoder import AttributeEmbedding, TokenTablesFollowTheModule, history_mean, history_weights
from dqrec.training import EmbeddingGradients, adam, manual_step, uses_sparse_embeddings

SELECTION_METRIC = "val_ndcg@20"  # checkpoints are chosen on this, and on nothing measured on test
LINKAGE_ROWS = 512  # batch rows that take part in the auxiliary linkage loss
TOWERS = ("user", "item")
PROVENANCE = "dqrec_provenance"  # checkpoint key: the training config and fingerprints of the inputs


class Loss(StrEnum):
    CCL = "ccl"
    SOFTMAX = "softmax"


@dataclass(frozen=True)
class CFConfig:
    dim: int = 64
    sid_features: bool = runtime(False)  # feature augmentation (set by the variant)
    feature_towers: tuple[str, ...] = TOWERS  # the towers feature augmentation adds SID code embeddings to
    sid_dropout: float = 0.5  # while training, the chance of dropping each SID input of a tower (per row)
    sid_gate: bool = False  # a learnt gate per SID input (each level's code embedding, the neighbour mean), from 0
    sid_shrinkage: float = 0.0  # κ: an entity's SID inputs weigh κ / (κ + its interactions) (0: weight 1 for all)
    history_sids: bool = False  # the user's history aggregate adds its items' SID code embeddings (the item tower's)
    linkage: bool = runtime(False)  # linkage augmentation: neighbour aggregation + auxiliary loss (the variant)
    history_weight: float = 0.2  # 1 - g: share of the behaviour aggregate in the user vector
    history_dropout: float = 0.7  # while training, the chance of leaving each history item out of the aggregate
    neighbour_weight: float = 0.2  # α
    linkage_loss_weight: float = 0.0  # λ
    loss: Loss = Loss.SOFTMAX  # on ml-100k, untuned CCL stayed below popularity; sampled softmax did not
    n_negatives: int = 512
    margin: float = 0.9
    negative_weight: float = 150.0
    temperature: float = 0.1
    in_batch_negatives: bool = False  # softmax only: the batch's other positives are negatives too
    item_bias: bool = True  # softmax only: a learnt per-item logit offset
    audience_weight: float = 0.0  # share of the item's audience aggregate (mean of its users) in the item vector
    dropout: float = 0.3  # on the user vector before normalisation, while training (SimpleX's net dropout)
    lr: float = 3e-3
    weight_decay: float = 0.0
    embedding_gradients: EmbeddingGradients = EmbeddingGradients.AUTO  # sparse (lazy Adam) for large catalogues

    def __post_init__(self) -> None:
        if not self.feature_towers or not set(self.feature_towers) <= set(TOWERS):
            raise ValueError(f"feature_towers: expected one or both of {list(TOWERS)}, got {list(self.feature_towers)}")
        for name in ("sid_dropout", "history_dropout"):
            if not 0 <= (rate := getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a probability in [0, 1), got {rate}")
        if self.sid_shrinkage < 0:
            raise ValueError(f"sid_shrinkage: expected κ >= 0 (0: off), got {self.sid_shrinkage}")
        if self.history_sids and "item" not in self.feature_towers:
            raise ValueError("history_sids: reads the item tower's SID code embeddings, so feature_towers must include"
                             f" item; got {list(self.feature_towers)}")


def shrinkage_weights(interactions: torch.Tensor, kappa: float) -> torch.Tensor:
    """(N,) interaction counts -> (N, 1) weights κ / (κ + n): 1 for an entity without interactions, halved at
    n = κ, falling as 1 / n beyond."""
    return (kappa / (kappa + interactions.to(torch.float32))).unsqueeze(1)


def vector_dropout(vectors: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Drops whole vectors (the last axis) with probability p, scaling the kept ones by 1 / (1 - p)."""
    if not training or p == 0:
        return vectors
    return vectors * F.dropout(vectors.new_ones(*vectors.shape[:-1], 1), p)  # (..., 1): 0 or 1 / (1 - p)


def drop_entries(history: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Turns each entry of a 0-padded history (B, H) into padding with probability p, so that an aggregate
    over it averages a random subset of the history (the identity when not training)."""
    if not training or p == 0:
        return history
    return history.masked_fill(torch.rand(history.shape, device=history.device) < p, 0)


class SidTower(nn.Module):
    """Σ_l S_l(c_l): one embedding table of J codes per SID level.

    While training, ``dropout`` drops each row's levels independently, so that the ID embeddings cannot lean on
    the shared code embeddings alone."""

    def __init__(self, n_levels: int, n_codes: int, dim: int, dropout: float = 0.0, gated: bool = False) -> None:
        super().__init__()
        self.levels = nn.ModuleList(nn.Embedding(n_codes, dim) for _ in range(n_levels))
        for table in self.levels:
            nn.init.normal_(table.weight, std=0.01)
        self.dropout = dropout
        # Zero gates: the tower starts as the baseline's. Adam's steps do not shrink with the gradient, so the
        # gates leave zero at the learning rate's pace wherever the code embeddings lower the loss.
        self.gates = nn.Parameter(torch.zeros(n_levels, 1)) if gated else None

    def forward(self, codes: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, D)
        embedded = torch.stack([table(codes[:, level]) for level, table in enumerate(self.levels)], dim=1)  # (B, L, D)
        if self.gates is not None:
            embedded = embedded * self.gates  # (L, 1) broadcast over rows and dimensions
        return vector_dropout(embedded, self.dropout, self.training).sum(1)

    def bag(self, codes: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:  # (B, H, L), (B, H) -> (B, D)
        """Σ_h weights[h] Σ_l S_l(codes[h, l]) [· gate_l]: the weighted bag of a row's entities' code embeddings,
        summed as it gathers (as ``history_mean``); no SID dropout, as the bag's entries are dropped already."""
        total = 0
        for level, table in enumerate(self.levels):
            level_bag = F.embedding_bag(codes[..., level], table.weight, mode="sum", per_sample_weights=weights)
            total = total + (level_bag * self.gates[level] if self.gates is not None else level_bag)
        return total


class TwoTowerCF(TokenTablesFollowTheModule, L.LightningModule):
    def __init__(self, n_users: int, n_items: int, user_vocab: dict[str, int], item_vocab: dict[str, int],
                 sid_levels: int, user_codes: int, item_codes: int, config: CFConfig | dict) -> None:
        super().__init__()
        if isinstance(config, dict):  # as stored in a checkpoint
            config = CFConfig(**{**config, "loss": Loss(config["loss"]),
                                 "embedding_gradients": EmbeddingGradients(config.get("embedding_gradients", "auto")),
                                 "feature_towers": tuple(config.get("feature_towers", TOWERS))})
        # Plain types only, so that checkpoints load weights-only.
        self.save_hyperparameters({"n_users": n_users, "n_items": n_items, "user_vocab": user_vocab,
                                   "item_vocab": item_vocab, "sid_levels": sid_levels, "user_codes": user_codes,
                                   "item_codes": item_codes, "config": asdict(config) | {"loss": str(config.loss),
                                                             "embedding_gradients": str(config.embedding_gradients),
                                                             "feature_towers": list(config.feature_towers)}})
        self.config = config
        self.n_items = n_items
        sparse = uses_sparse_embeddings(config.embedding_gradients, n_users + n_items, config.weight_decay)
        self.automatic_optimization = not sparse  # sparse: two optimisers (dense and lazy Adam), stepped by hand
        self.user_embedding = nn.Embedding(n_users, config.dim, sparse=sparse)
        self.item_embedding = nn.Embedding(n_items + 1, config.dim, padding_idx=0, sparse=sparse)  # id + 1; 0 pads
        for table in (self.user_embedding, self.item_embedding):
            nn.init.normal_(table.weight, std=0.1)
        self.history_projection = nn.Linear(config.dim, config.dim, bias=False)
        self.user_dropout = nn.Dropout(config.dropout)  # the identity in eval mode
        self.audience_projection = (nn.Linear(config.dim, config.dim, bias=False) if config.audience_weight > 0
                                    else None)
        self.item_bias = nn.Embedding(n_items, 1, sparse=sparse) if config.item_bias else None
        if self.item_bias is not None:
            nn.init.zeros_(self.item_bias.weight)
        self.user_attributes = AttributeEmbedding(user_vocab, config.dim)
        self.item_attributes = AttributeEmbedding(item_vocab, config.dim)
        features = set(config.feature_towers) if config.sid_features else set()
        sids = lambda n_codes: SidTower(sid_levels, n_codes, config.dim, config.sid_dropout,  # noqa: E731
                                        config.sid_gate)
        self.user_sids = sids(user_codes) if "user" in features else None
        self.item_sids = sids(item_codes) if "item" in features else None
        # The linkage term's gate per tower, from 0 (with sid_gate): α · g · neighbour mean.
        gated_linkage = config.linkage and config.sid_gate
        self.neighbour_gates = nn.Parameter(torch.zeros(len(TOWERS))) if gated_linkage else None
        # Inputs, not parameters: set by attach, never saved in checkpoints.
        self.register_buffer("histories", torch.zeros(n_users, 1, dtype=torch.long), persistent=False)
        self.register_buffer("audiences", torch.zeros(n_items, 1, dtype=torch.long), persistent=False)
        self.register_buffer("user_codes_table", torch.zeros(n_users, sid_levels, dtype=torch.long), persistent=False)
        self.register_buffer("item_codes_table", torch.zeros(n_items, sid_levels, dtype=torch.long), persistent=False)
        self.register_buffer("user_neighbours", torch.full((n_users, 1), -1, dtype=torch.long), persistent=False)
        self.register_buffer("item_neighbours", torch.full((n_items, 1), -1, dtype=torch.long), persistent=False)
        self.register_buffer("user_sid_weights", torch.ones(n_users, 1), persistent=False)
        self.register_buffer("item_sid_weights", torch.ones(n_items, 1), persistent=False)
        self.user_tokens: dict[str, torch.Tensor] = {}
        self.item_tokens: dict[str, torch.Tensor] = {}

    def attach(self, histories: torch.Tensor, user_tokens: dict[str, torch.Tensor],
               item_tokens: dict[str, torch.Tensor], user_codes: torch.Tensor | None = None,
               item_codes: torch.Tensor | None = None, user_neighbours: torch.Tensor | None = None,
               item_neighbours: torch.Tensor | None = None, audiences: torch.Tensor | None = None,
               user_interactions: torch.Tensor | None = None, item_interactions: torch.Tensor | None = None) -> None:
        """``*_interactions`` (U,), (I,): each entity's known interactions, which weigh its SID inputs when
        ``sid_shrinkage`` is on."""
        self.histories = histories  # (U, H) item id + 1
        if audiences is not None:
            self.audiences = audiences  # (I, H) user id + 1
        self.user_tokens, self.item_tokens = user_tokens, item_tokens
        if user_codes is not None:
            self.user_codes_table, self.item_codes_table = user_codes, item_codes  # (U, L), (I, L)
        if user_neighbours is not None:
            self.user_neighbours, self.item_neighbours = user_neighbours, item_neighbours  # (U, K), (I, K), -1 pads
        if user_interactions is not None and self.config.sid_shrinkage > 0:
            self.user_sid_weights = shrinkage_weights(user_interactions, self.config.sid_shrinkage)  # (U, 1)
            self.item_sid_weights = shrinkage_weights(item_interactions, self.config.sid_shrinkage)  # (I, 1)

    # --- towers -------------------------------------------------------------------------------------------

    def item_vectors(self, items: torch.Tensor, masked_users: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) -> (B, D); ``masked_users`` (B,): left out of each item's audience (the training pair's own user)."""
        vectors = self.item_embedding(items + 1)
        if self.audience_projection is not None:
            # audiences hold user id + 1 with 0 pads; the user table has no padding row, hence offset -1.
            audience = history_mean(self.user_embedding, self.audiences[items], masked_users, offset=-1)  # (B, D)
            a = self.config.audience_weight
            vectors = (1 - a) * vectors + a * self.audience_projection(audience)
        if (attributes := self.item_attributes({k: v[items] for k, v in self.item_tokens.items()})) is not None:
            vectors = vectors + attributes
        if self.item_sids is not None:
            vectors = vectors + self._shrunk(self.item_sids(self.item_codes_table[items]), self.item_sid_weights[items])
        if self.config.linkage:
            neighbours = self._neighbour_term(self.item_embedding, self.item_neighbours[items], tower="item")
            vectors = vectors + self._shrunk(neighbours, self.item_sid_weights[items])
        return F.normalize(vectors, dim=-1)

    def user_vectors(self, users: torch.Tensor, masked_items: torch.Tensor | None = None) -> torch.Tensor:
        history = drop_entries(self.histories[users], self.config.history_dropout, self.training)  # (B, H)
        behaviour = history_mean(self.item_embedding, history, masked_items)  # (B, D)
        if self.config.history_sids and self.item_sids is not None:
            codes = self.item_codes_table[(history - 1).clamp(min=0)]  # (B, H, L); pads get weight 0
            behaviour = behaviour + self.item_sids.bag(codes, history_weights(history, masked_items))
        g = self.config.history_weight
        vectors = (1 - g) * self.user_embedding(users) + g * self.history_projection(behaviour)
        if (attributes := self.user_attributes({k: v[users] for k, v in self.user_tokens.items()})) is not None:
            vectors = vectors + attributes
        if self.user_sids is not None:
            vectors = vectors + self._shrunk(self.user_sids(self.user_codes_table[users]), self.user_sid_weights[users])
        if self.config.linkage:
            # The user table has no padding row, hence offset -1.
            neighbours = self._neighbour_term(self.user_embedding, self.user_neighbours[users], offset=-1, tower="user")
            vectors = vectors + self._shrunk(neighbours, self.user_sid_weights[users])
        return F.normalize(self.user_dropout(vectors), dim=-1)

    def _shrunk(self, sid_input: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """A SID input (B, D) weighted per row by its entity's shrinkage weight (B, 1); untouched when shrinkage
        is off, so that a run without it computes exactly what it did before the option existed."""
        return sid_input * weights if self.config.sid_shrinkage > 0 else sid_input

    def _neighbour_term(self, table: nn.Embedding, neighbours: torch.Tensor, offset: int = 0,
                        tower: str = "user") -> torch.Tensor:
        """α [· gate] · the mean embedding of each row's SID neighbours, (B, K) -1-padded ids -> (B, D); dropped
        per row while training (``sid_dropout``)."""
        mean = history_mean(table, neighbours + 1, offset=offset)  # + 1: history form, 0 pads
        weight = self.config.neighbour_weight
        if self.neighbour_gates is not None:
            weight = weight * self.neighbour_gates[TOWERS.index(tower)]
        return weight * vector_dropout(mean, self.config.sid_dropout, self.training)

    @torch.no_grad()
    def scores(self, users: torch.Tensor, item_vectors: torch.Tensor | None = None,
               bias_scale: float = 1.0) -> torch.Tensor:
        """(B, I) cosine scores of users against every item (pass precomputed item vectors to reuse them).
        ``bias_scale`` weights the item bias against the training logit's (1); only diagnostics change it."""
        users = users.to(self.device)
        if item_vectors is None:
            item_vectors = self.item_vectors(torch.arange(self.n_items, device=self.device))
        scores = self.user_vectors(users) @ item_vectors.T
        if self.item_bias is not None:  # τ · (cos / τ + b): the training logit's order
            scores = scores + bias_scale * self.config.temperature * self.item_bias.weight.T
        return scores

    def _bias(self, items: torch.Tensor) -> torch.Tensor | float:
        return self.item_bias(items).squeeze(-1) if self.item_bias is not None else 0.0

    # --- losses -------------------------------------------------------------------------------------------

    def recommendation_loss(self, user: torch.Tensor, positive_items: torch.Tensor, items: torch.Tensor,
                            negative_items: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """``user`` (B, D) and ``positive_items`` (B, D): the towers' vectors of the batch's pairs, ``items`` (B,);
        ``negative_items`` (N, D): the item tower's vectors of the sampled ``negatives`` (N,)."""
        positive = (user * positive_items).sum(-1)  # (B,)
        negative = user @ negative_items.T  # (B, N)
        negative = negative.masked_fill(negatives.unsqueeze(0) == items.unsqueeze(1), float("-inf"))
        if self.config.loss == Loss.CCL:
            hinge = F.relu(negative - self.config.margin).mean(-1)  # -inf -> 0
            return ((1 - positive) + self.config.negative_weight * hinge).mean()
        logits = [(positive / self.config.temperature + self._bias(items)).unsqueeze(1),  # (B, 1)
                  negative / self.config.temperature + self._bias(negatives)]  # (B, N)
        if self.config.in_batch_negatives:
            # The diagonal (each row's own positive, already first) and repeats of the same item are masked.
            in_batch = user @ positive_items.T / self.config.temperature + self._bias(items)  # (B, B)
            logits.append(in_batch.masked_fill(items.unsqueeze(0) == items.unsqueeze(1), float("-inf")))
        return F.cross_entropy(torch.cat(logits, dim=1),
                               torch.zeros(len(items), dtype=torch.long, device=items.device))

    def linkage_loss(self, vectors: torch.Tensor, entities: torch.Tensor, neighbours: torch.Tensor,
                     tower: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """InfoNCE between entities (their tower ``vectors`` (B, D)) and one random SID neighbour each, the other
        rows' neighbours as negatives; on the batch's first LINKAGE_ROWS rows (batches are shuffled), which keeps
        the neighbours' extra tower pass small."""
        vectors, entities = vectors[:LINKAGE_ROWS], entities[:LINKAGE_ROWS]
        counts = (neighbours[entities] >= 0).sum(1)  # (B',)
        has = counts > 0
        if has.sum() < 2:
            return torch.zeros((), device=entities.device)
        pick = (torch.rand(int(has.sum()), device=entities.device) * counts[has]).long()
        partner = neighbours[entities[has], pick]
        logits = vectors[has] @ tower(partner).T / self.config.temperature  # (B'', B'')
        return F.cross_entropy(logits, torch.arange(len(partner), device=entities.device))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        users, items = batch
        negatives = torch.randint(0, self.n_items, (self.config.n_negatives,), device=items.device)
        user = self.user_vectors(users, masked_items=items)  # (B, D)
        # One item-tower pass over positives and negatives: each item-table lookup then makes one dense gradient
        # a step, not two. A negative has no training user to leave out of its audience (-1 matches no one).
        left_out_users = torch.cat([users, torch.full_like(negatives, -1)])
        candidates = self.item_vectors(torch.cat([items, negatives]), masked_users=left_out_users)  # (B + N, D)
        item, negative_items = candidates[:len(items)], candidates[len(items):]
        loss = self.recommendation_loss(user, item, items, negative_items, negatives)
        if self.config.linkage and self.config.linkage_loss_weight > 0:
            loss = loss + self.config.linkage_loss_weight * (
                self.linkage_loss(user, users, self.user_neighbours, self.user_vectors)
                + self.linkage_loss(item, items, self.item_neighbours, self.item_vectors))
        self.log("train_loss", loss, on_epoch=True, on_step=False, prog_bar=True, sync_dist=True)
        if not self.automatic_optimization:
            manual_step(self, loss)
        return loss

    # --- validation: full ranking, the known items masked ------------------------------------------------

    def attach_validation(self, known: UserItems, targets: UserItems) -> None:
        self.validation_known, self.validation_targets = known, targets

    def on_validation_epoch_start(self) -> None:
        self._item_vectors = self.item_vectors(torch.arange(self.n_items, device=self.device))  # once per epoch

    def validation_step(self, batch: tuple[torch.Tensor], batch_idx: int) -> None:
        users = batch[0].cpu().numpy()
        ranked = top_k(lambda u: self.scores(u, self._item_vectors), users, self.validation_known, 20)
        ndcg = ranking_metrics(ranked, self.validation_targets, users, (20,))["ndcg@20"]
        # sync_dist sums value x batch size and batch sizes over processes: the mean over all validation users.
        self.log(SELECTION_METRIC, float(ndcg.mean()), batch_size=len(users), prog_bar=True, sync_dist=True)

    # --- provenance: what the weights were trained with and on, saved in the checkpoint -------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint[PROVENANCE] = getattr(self, "provenance", {})

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.provenance = checkpoint.get(PROVENANCE, {})

    def configure_optimizers(self) -> torch.optim.Optimizer | list[torch.optim.Optimizer]:
        return adam(self, self.config.lr, self.config.weight_decay)
