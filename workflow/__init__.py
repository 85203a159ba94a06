"""Clients that drive a deployed stack on either target (local cloud or AWS).

`python -m workflow.classify` (make classify) and `python -m workflow.demo` (make demo).
They reach the target through deployment.Target; the local cloud itself is `localcloud`.
"""
