// Check an AsyncAPI document with the AsyncAPI Initiative's own parser (@asyncapi/parser).
//
//   node asyncapi-check.mjs FILE     (e.g. the asyncapi.json that `intelbus schema export DIR` writes)
//
// Prints each error and warning (and the count of informational hints) and exits 1 if there is any
// error or warning; prints the channels and operations it found when there is none.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const [file] = process.argv.slice(2);
const parser = new Parser();
const diagnostics = await parser.validate(readFileSync(file, "utf8"));
const serious = diagnostics.filter((d) => d.severity <= 1);  // 0 error, 1 warning, 2 information, 3 hint
for (const d of serious) {
  console.log(`${d.severity === 0 ? "error" : "warning"} ${d.code} at ${d.path.join("/")}: ${d.message}`);
}
if (serious.length) process.exit(1);
const { document } = await parser.parse(readFileSync(file, "utf8"));
console.log(`ok: AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
            `${document.operations().length} operations, ${diagnostics.length} hints`);
