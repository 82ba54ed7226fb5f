"""A local stand-in for the Azure Batch service: the data-plane REST API on 127.0.0.1, Shared Key auth,
SQLite state, nodes as local folders running tasks as processes, and Azurite as the linked storage."""
