"""Corpora on disk: definitions and lookup, the versioned index format, the incremental builder, uploads."""
