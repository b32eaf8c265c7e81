"""Folder of the ``nll`` evaluate module; ``evaluate.load`` reads nll.py from here."""
