"""SVD with balanced-variance blocks, the DQ-VAE quantiser, PQ/RQ references, semantic IDs and diagnostics."""
