// Validate submissions against the exported JSON Schemas with Ajv (draft 2020-12, strict mode, formats).
//
//   node validate.mjs SCHEMA_DIR [FILE]   (FILE, or stdin: one JSON submission per line)
//
// Prints one line per submission: "valid", or "invalid <first error>", by the union schema; then, after a
// tab, the same by its own kind's file (KIND.schema.json; "-" for an unknown kind). Exits 1 when a schema
// does not compile in strict mode (Ajv's warnings count as failures too).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const [dir, file] = process.argv.slice(2);
const warnings = [];
const logger = { log: () => {}, warn: (...m) => warnings.push(m.join(" ")), error: (...m) => warnings.push(m.join(" ")) };
const validators = {};
for (const name of readdirSync(dir).filter((n) => n.endsWith(".schema.json")).sort()) {
  const schema = JSON.parse(readFileSync(join(dir, name), "utf8"));
  try {
    const one = new Ajv2020({ strict: true, logger });
    addFormats(one);
    validators[name] = one.compile(schema);
  } catch (err) {
    console.error(`${name}: does not compile: ${err.message}`);
    process.exit(1);
  }
}
if (warnings.length) {
  console.error(`strict mode warnings: ${warnings.join("; ")}`);
  process.exit(1);
}
const verdict = (validate, doc) =>
  validate(doc) ? "valid" : `invalid ${validate.errors[0].instancePath} ${validate.errors[0].message}`;
const union = validators["submission.schema.json"];
const text = readFileSync(file ?? 0, "utf8");
for (const line of text.split("\n").filter((l) => l.trim())) {
  let doc;
  try { doc = JSON.parse(line); } catch { console.log("invalid not JSON\t-"); continue; }
  const own = validators[`${doc?.kind}.schema.json`];
  console.log(`${verdict(union, doc)}\t${own ? verdict(own, doc) : "-"}`);
}
