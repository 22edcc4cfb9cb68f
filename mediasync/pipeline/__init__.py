"""The eight steps as plain functions over a RunContext: no Prefect here."""
