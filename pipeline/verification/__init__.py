"""Checking an answer: claims, slot checks, judges, the verdict rules and the engine that runs them."""
