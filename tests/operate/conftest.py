"""Fixtures of the operate tests live in the modules that use them; this folder shares
only the telemetry switches every Prefect process it starts must inherit."""
