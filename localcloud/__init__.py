"""The local cloud: moto's server plus thin extensions that really run the workloads.

`python -m localcloud up|down|status|serve`. See localcloud/README.md.
"""

from deployment.target import DEFAULT_LOCAL_PORT as DEFAULT_PORT
from deployment.target import DEFAULT_LOCAL_REGION as DEFAULT_REGION
from deployment.target import LOCAL_HOST as DEFAULT_HOST

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_REGION"]
