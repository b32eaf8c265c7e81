"""Folder of the ``brier_score`` evaluate module; ``evaluate.load`` reads brier_score.py from here."""
