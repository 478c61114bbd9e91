"""SID-augmented two-tower collaborative filtering: SID features, SID linkage, the model and its losses."""
