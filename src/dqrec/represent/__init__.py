"""Pre-training: a two-tower encoder whose towers give the user and item representations Z that DQ-VAE quantises."""
