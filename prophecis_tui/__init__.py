"""prophecis-tui: a terminal console for the Prophecis machine-learning platform."""

__version__ = "0.1.0"
