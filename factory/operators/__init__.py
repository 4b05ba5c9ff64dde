"""Operators the compiled DAGs use; each module imports only its own runtime's provider."""
