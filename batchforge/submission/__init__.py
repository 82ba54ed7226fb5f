"""The submission engine: plain Python (no Pulumi) that puts planned jobs and their tasks into a Batch account."""
