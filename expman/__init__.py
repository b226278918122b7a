"""expman: record every run of an experiment as plain files."""

__version__ = "0.1.0"
