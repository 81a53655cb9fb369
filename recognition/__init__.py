"""Recognizing cars in images: one interface, a local and a remote backend."""
