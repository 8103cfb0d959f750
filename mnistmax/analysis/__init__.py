"""Analyses that go beyond one metric: latent exploration, transfer learning."""
