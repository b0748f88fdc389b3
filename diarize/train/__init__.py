"""Training of the self-supervised speaker encoder."""
