resource "terraform_data" "x" {
  input = "a"
}
data "terraform_remote_state" "r" {
  backend = "local"
  config = {
    path = "${path.module}/${terraform_data.x.id}.tfstate"
  }
}
