"""ASGI middleware for the GraphQL endpoint."""
