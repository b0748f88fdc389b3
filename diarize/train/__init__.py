"""Training: the self-supervised speaker encoder and the speaker-count segmentation model."""
