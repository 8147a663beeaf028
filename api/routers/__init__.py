"""The API's routes, one router per area: verify, corpora (documents and indexing jobs), operations."""
