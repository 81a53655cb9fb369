"""The behaviour of the API: plain async functions that GraphQL and REST both call."""
