terraform {
  # 1.9+ for validations that refer to other variables; test suites need 1.7+ (override_*).
  required_version = ">= 1.9.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Exact pin: the offline provider mirror carries this one version.
      version = "= 5.100.0"
    }
  }
}
