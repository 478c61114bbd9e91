"""SID-augmented two-tower collaborative filtering: SID features, SID linkage, the model and its losses."""

# ``train`` keys that only the SID inputs read (the code embeddings, the neighbour term): the baseline has neither,
# so it trains the same under any of their values. Here, not in ``fit``, so that tools comparing params need not
# import torch.
SID_ONLY_KEYS = ("feature_towers", "sid_dropout", "sid_gate", "sid_shrinkage", "history_sids", "neighbour_weight",
                 "linkage_loss_weight", "min_shared", "max_neighbours", "warm_start",
                 "freeze_base")
