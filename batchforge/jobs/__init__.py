"""Following jobs on any Batch account (Azure or local): their status, waiting for them, summaries and progress."""
