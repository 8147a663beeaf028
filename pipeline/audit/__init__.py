"""Batch audit of past chat transcripts: readers, the SQLite audit store, the runner and the report.

`veracity audit NAME TRANSCRIPTS...` verifies every assistant turn and stores the results
(pipeline.audit.store documents the schema); `veracity report RUN_ID` rewrites the report.
"""
