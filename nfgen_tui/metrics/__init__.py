"""Evaluation: batched SSIM, MMD / COV / 1-NNA, classifier score, memorization and baselines (`nfgen eval`)."""
