"""The Batch data-plane REST routes, one module per resource family."""
