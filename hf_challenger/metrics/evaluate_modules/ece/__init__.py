"""Folder of the ``ece`` evaluate module; ``evaluate.load`` reads ece.py from here."""
