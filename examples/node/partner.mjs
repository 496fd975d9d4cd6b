// A partner in Node.js: publish submissions (JSON lines, from FILE or stdin) to the partner's ingress stream.
//
//   REDIS_URL=redis://partner-hmrc:<password>@host:6379/0 PARTNER=hmrc node partner.mjs [FILE] [--schema DIR]
//                                                                        [--wait SECONDS]
//
// Each line is one submission, sent as it is in the field `payload` of one entry on intel:ingress:<PARTNER>
// (INTELBUS_PREFIX changes "intel"; INTELBUS_REGION=ne makes it "intel:{ne}", a region's keys). With --schema DIR (from `intelbus schema export DIR`) each line is first
// checked against DIR/submission.schema.json, and nothing is sent unless every line passes. Prints the entry id
// of each submission sent; exits 1 with one line on stderr when something is wrong. With --wait SECONDS it then
// reads its receipts (intel:receipt:<PARTNER>, which only its Redis user may read) until each submission sent
// has one, and prints each as a JSON object line ({entry_id, submission_id, outcome (accepted, quarantined or
// duplicate), decision_id, and
// reason_class and reason when quarantined, original_decision_id when a duplicate}); exits 1 if any was
// quarantined, or if some receipt did not come within SECONDS.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createClient } from "redis";

const fail = (message) => { console.error(`partner.mjs: ${message}`); process.exit(1); };
const args = process.argv.slice(2);
const schemaAt = args.indexOf("--schema");
const schemaDir = schemaAt >= 0 ? args.splice(schemaAt, 2)[1] : null;
if (schemaAt >= 0 && !schemaDir) fail("--schema DIR: the folder intelbus schema export wrote");
const waitAt = args.indexOf("--wait");
const wait = waitAt >= 0 ? Number(args.splice(waitAt, 2)[1]) : null;
if (waitAt >= 0 && !(wait > 0 && wait <= 86400)) fail("--wait SECONDS: a number of seconds above 0, at most 86400");
const [file] = args;
const { REDIS_URL: url, PARTNER: partner, INTELBUS_PREFIX: base = "intel", INTELBUS_REGION: region } = process.env;
const prefix = region ? `${base}:{${region}}` : base;  // a region's keys carry its hash tag (bus/keys.py)
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
// The id just before `id`: reading after it includes `id` itself (a receipt is written after its entry, on the
// same Redis clock, so every receipt of these entries comes after the first entry's id).
const before = (id) => {
  const [ms, seq] = id.split("-").map(BigInt);
  return seq > 0n ? `${ms}-${seq - 1n}` : `${ms - 1n}-18446744073709551615`;
};

async function receipts(ids, seconds) {
  const waiting = new Set(ids);
  const found = new Map();
  const stream = `${prefix}:receipt:${partner}`;
  let cursor = before(ids[0]);
  const deadline = Date.now() + seconds * 1000;
  while (waiting.size > 0) {
    const left = deadline - Date.now();
    if (left <= 0) fail(`${waiting.size} of ${ids.length} submissions have no receipt after ${seconds} s: is the router running?`);
    const reply = await client.xRead({ key: stream, id: cursor }, { COUNT: 1000, BLOCK: Math.min(left, 1000) });
    for (const { messages } of reply ?? []) {
      for (const { id, message } of messages) {
        cursor = id;
        if (waiting.delete(message.entry_id)) found.set(message.entry_id, message);
      }
    }
  }
  return ids.map((id) => found.get(id));
}

try {
  const ids = [];
  for (const line of lines) {
    ids.push(await client.xAdd(`${prefix}:ingress:${partner}`, "*", { payload: line }));
    console.log(ids.at(-1));
  }
  if (wait !== null && ids.length > 0) {
    const got = await receipts(ids, wait);
    got.forEach((receipt) => console.log(JSON.stringify(receipt)));
    const quarantined = got.filter((receipt) => receipt.outcome === "quarantined").length;
    if (quarantined) fail(`${quarantined} of ${ids.length} submissions were quarantined (their receipts say why)`);
  }
} catch (err) {
  const hint = String(err.message).startsWith("NOPERM")
    ? " (a partner may only XADD to its own ingress stream and read its own receipts; an ACL file from before receipts"
      + " refuses the read: regenerate it with intelbus acl generate)"
    : "";
  fail(`${err.message}${hint}`);
} finally {
  await client.close();
}
