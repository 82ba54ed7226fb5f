"""Pulumi dynamic providers: what the provider host unpickles (workload submission, blob upload)."""
