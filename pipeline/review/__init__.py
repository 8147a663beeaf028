"""The review of flagged sentences: reviewers' accounts, the append-only decision trail and its export."""
