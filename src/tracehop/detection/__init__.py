"""Detection: indicators per customer and caller ID, rule-based scores, campaigns
(docs/detection.md)."""
