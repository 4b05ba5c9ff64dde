"""Tools for analysts and reviewers: scaffold, explain, graph, diff."""
