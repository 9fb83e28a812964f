"""Adapters between Blender data and ``core`` values: version differences (``compat``), strips,
folders and the style previews. No operators live here."""
