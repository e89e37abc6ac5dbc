"""macs: multi-actor collaborative pretraining data selection."""

__version__ = "0.1.0"
