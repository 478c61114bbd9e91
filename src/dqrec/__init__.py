"""DQRec: semantic-ID augmented collaborative filtering."""

__version__ = "0.1.0"
