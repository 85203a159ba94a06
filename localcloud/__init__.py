"""The local cloud: moto's server plus thin extensions that really run the workloads.

`python -m localcloud up|down|status|serve`. See localcloud/README.md.
"""

DEFAULT_PORT = 4566
DEFAULT_HOST = "127.0.0.1"
DEFAULT_REGION = "us-east-1"
