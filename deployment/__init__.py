"""What the CLIs share about a deployment: Terraform's outputs for a target."""
