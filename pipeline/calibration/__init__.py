"""Calibration: a corpus's verdict thresholds chosen from labelled answers or reviewers' decisions."""
