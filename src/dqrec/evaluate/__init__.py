"""Full-ranking evaluation: metrics over all items with the user's known items masked (BRIEF §3)."""
