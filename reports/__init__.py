"""Effectiveness reports per campaign and audience: SQL aggregation over deliveries and metric
snapshots, pandas for shaping, honest uncertainty (Fieller intervals over messages, Wilson, empirical Bayes), and
renderers for HTML, XLSX, CSV, JSON, Markdown and the terminal. Reads the database through the
``campaigns`` schema only; never calls a platform.
"""
