"""Models of the paper, as transformers ``PreTrainedModel`` classes."""
