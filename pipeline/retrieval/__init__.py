"""Finding evidence: the hybrid (FAISS + BM25) retriever, caller-given passages, evidence windows."""
