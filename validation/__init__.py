"""The real-data validation set and `make validate` (see ``python -m validation --help``)."""
