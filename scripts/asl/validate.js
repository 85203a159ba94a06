#!/usr/bin/env node
// Runs asl-validator (the version pinned in package-lock.json) on each state machine
// definition file given and prints one JSON object: {"<file>": [{"code", "message"}]},
// an empty list for a valid definition. Exit 0 when every definition is valid, 1 when
// one is not, 2 on a usage error. Used by tests/terraform/test_terraform_asl_validator.py.
"use strict";

const fs = require("fs");
const validator = require("asl-validator");
const { version } = require("asl-validator/package.json");

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.js DEFINITION.json...");
  process.exit(2);
}
const report = {};
for (const file of files) {
  const result = validator(JSON.parse(fs.readFileSync(file, "utf8")));
  report[file] = result.errors.map((e) => ({ code: e["Error code"], message: e.Message }));
}
console.log(JSON.stringify({ validator: `asl-validator ${version}`, results: report }, null, 2));
process.exit(Object.values(report).some((errors) => errors.length > 0) ? 1 : 0);
