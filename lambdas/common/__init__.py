"""Helpers shared by the Lambda handlers; build.py bundles only the modules a handler imports."""
