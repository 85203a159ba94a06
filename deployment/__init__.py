"""What the CLIs share about a deployment: Terraform's outputs, the target (local | aws)
and its clients, the S3 URI type."""
