"""Synthetic human-object interaction data engine: poses, scenes, cameras, rendering."""
