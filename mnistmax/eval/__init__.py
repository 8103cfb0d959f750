"""Evaluation: metrics and baselines (pure functions), and how each kind of model is scored
on the test split (denoise, reconstruction, classification, embeddings), with the writers for
the result tables."""
