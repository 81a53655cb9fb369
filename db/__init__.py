"""Storage of file metadata and predictions: the only package that builds SQL."""
