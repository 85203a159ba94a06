"""A Lambda function: handler.py is packed at the zip root (lambdas/build.py)."""
