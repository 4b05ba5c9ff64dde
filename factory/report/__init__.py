"""Reporters: diagnostics -> text for people, GitHub annotations, or JSON for tools."""
