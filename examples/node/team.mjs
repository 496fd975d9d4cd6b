// A team in Node.js: read the team's feeds as a consumer of its group, immediate first, acknowledge each
// delivery, and write the consultation record of every read and every ack (DPA 2018 s.62), as the README says.
//
//   REDIS_URL=redis://team-durham.fib:<password>@host:6379/0 TEAM=durham.fib CONSUMER=analyst-1 node team.mjs [COUNT]
//
// Prints one JSON line per delivery (stream, entry_id, submission_id, priority, view, due, decision_id,
// payload) and stops after COUNT deliveries (forever without). INTELBUS_PREFIX changes "intel";
// INTELBUS_REGION=ne makes it "intel:{ne}", a region's keys.
import { createClient } from "redis";

const { REDIS_URL: url, TEAM: team, CONSUMER: consumer = `node-${process.pid}`,
        INTELBUS_PREFIX: base = "intel", INTELBUS_REGION: region } = process.env;
const prefix = region ? `${base}:{${region}}` : base;  // a region's keys carry its hash tag (bus/keys.py)
const fail = (message) => { console.error(`team.mjs: ${message}`); process.exit(1); };
if (!url || !team) fail("set REDIS_URL (the team's credentials URL) and TEAM (its id)");
if (process.argv[2] !== undefined && !/^[1-9][0-9]*$/.test(process.argv[2])) fail("COUNT: a whole number above 0");
const wanted = process.argv[2] ? Number(process.argv[2]) : Infinity;
const GROUP = "team";
const feeds = [`${prefix}:feed:${team}:immediate`, `${prefix}:feed:${team}`];  // immediate first
const consultations = `${prefix}:consult:${team}`;

const client = createClient({ url, socket: { reconnectStrategy: false } });  // fail, do not retry forever
client.on("error", () => {});
try {
  await client.connect();
} catch (err) {
  fail(`cannot reach Redis: ${err.message}`);
}

async function record(action, deliveries) {
  const body = {
    team, consumer, action,
    decision_ids: deliveries.map((d) => d.decision_id),
    entries: deliveries.map((d) => `${d.stream} ${d.entry_id}`),
    at: new Date().toISOString(),
  };
  await client.xAdd(consultations, "*", { consultation: JSON.stringify(body) });
}

try {
  for (const feed of feeds) {  // once: a group at 0 on each feed (BUSYGROUP: it is there already)
    try { await client.xGroupCreate(feed, GROUP, "0", { MKSTREAM: true }); } catch (err) {
      if (!String(err.message).startsWith("BUSYGROUP")) throw err;
    }
  }
  let done = 0;
  while (done < wanted) {
    // immediate first: the routine feed is read only with what the immediate one left of this round's COUNT,
    // and the read blocks only when neither has anything (as consumers.TeamClient does)
    const deliveries = [];
    for (const [n, feed] of feeds.entries()) {
      const room = Math.min(100, wanted - done) - deliveries.length;
      if (room <= 0) break;
      const last = n === feeds.length - 1 && deliveries.length === 0;
      const reply = await client.xReadGroup(GROUP, consumer, { key: feed, id: ">" },
                                            last ? { COUNT: room, BLOCK: 1000 } : { COUNT: room });
      for (const { id, message } of reply?.[0]?.messages ?? []) {
        deliveries.push({ stream: feed, entry_id: id, submission_id: message.submission_id,
                          priority: message.priority, view: message.view, due: message.due || null,
                          decision_id: message.decision_id, payload: JSON.parse(message.payload) });
      }
    }
    if (!deliveries.length) continue;
    await record("read", deliveries);  // before the deliveries are looked at
    for (const delivery of deliveries) console.log(JSON.stringify(delivery));
    for (const delivery of deliveries) await client.xAck(delivery.stream, GROUP, delivery.entry_id);
    await record("ack", deliveries);
    done += deliveries.length;
  }
} catch (err) {
  fail(err.message);
} finally {
  await client.close();
}
