variable "fail" {
  type    = bool
  default = false
}

variable "input" {
  type    = number
  default = 1
}

resource "terraform_data" "a" {
  count = 3
  input = var.input + count.index
}

resource "terraform_data" "slow" {
  provisioner "local-exec" {
    command = "sleep 2"
  }
}

resource "terraform_data" "bad" {
  count = var.fail ? 1 : 0
  provisioner "local-exec" {
    command = "echo boom >&2; exit 3"
  }
}
