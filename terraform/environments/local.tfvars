# The local cloud (python -m localcloud up): one moto server answers every AWS API.
aws_endpoint_url      = "http://127.0.0.1:4566"
region                = "us-east-1"
force_destroy_buckets = true
log_retention_days    = 1
# Small batches locally; the local cloud runs items in one process.
batch_max_concurrency = 4
