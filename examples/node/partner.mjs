// A partner in Node.js: publish submissions (JSON lines, from FILE or stdin) to the partner's ingress stream.
//
//   REDIS_URL=redis://partner-hmrc:<password>@host:6379/0 PARTNER=hmrc node partner.mjs [FILE] [--schema DIR]
//
// Each line is one submission, sent as it is in the field `payload` of one entry on intel:ingress:<PARTNER>
// (INTELBUS_PREFIX changes "intel"). With --schema DIR (from `intelbus schema export DIR`) each line is first
// checked against DIR/submission.schema.json, and nothing is sent unless every line passes. Prints the entry id
// of each submission sent; exits 1 with one line on stderr when something is wrong.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "redis";

const fail = (message) => { console.error(`partner.mjs: ${message}`); process.exit(1); };
const args = process.argv.slice(2);
const schemaAt = args.indexOf("--schema");
const schemaDir = schemaAt >= 0 ? args.splice(schemaAt, 2)[1] : null;
if (schemaAt >= 0 && !schemaDir) fail("--schema DIR: the folder intelbus schema export wrote");
const [file] = args;
const { REDIS_URL: url, PARTNER: partner, INTELBUS_PREFIX: prefix = "intel" } = process.env;
if (!url || !partner) fail("set REDIS_URL (the partner's credentials URL) and PARTNER (its id)");

const read = (path, what) => {
  try { return readFileSync(path, "utf8"); } catch (err) { fail(`cannot read ${what}: ${err.message}`); }
};
const lines = read(file ?? 0, file ?? "stdin").split("\n").filter((line) => line.trim());
if (schemaDir) {
  const { default: Ajv2020 } = await import("ajv/dist/2020.js");
  const { default: addFormats } = await import("ajv-formats");
  const ajv = new Ajv2020({ strict: true });
  addFormats(ajv);
  let validate;
  try {
    validate = ajv.compile(JSON.parse(read(join(schemaDir, "submission.schema.json"), "the schema")));
  } catch (err) {
    fail(`the schema in ${schemaDir} does not compile: ${err.message}`);
  }
  lines.forEach((line, n) => {
    let doc;
    try { doc = JSON.parse(line); } catch { fail(`line ${n + 1}: not JSON; nothing sent`); }
    if (!validate(doc)) fail(`line ${n + 1}: ${validate.errors[0].instancePath} ${validate.errors[0].message}; nothing sent`);
  });
}
const client = createClient({ url, socket: { reconnectStrategy: false } });  // fail, do not retry forever
client.on("error", () => {});  // a refused connection is reported by connect() below
try {
  await client.connect();
} catch (err) {
  fail(`cannot reach Redis: ${err.message}`);
}
try {
  for (const line of lines) {
    console.log(await client.xAdd(`${prefix}:ingress:${partner}`, "*", { payload: line }));
  }
} catch (err) {
  const hint = String(err.message).startsWith("NOPERM") ? " (a partner may only XADD to its own ingress stream)" : "";
  fail(`${err.message}${hint}`);
} finally {
  await client.close();
}
