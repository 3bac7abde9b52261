// ioredis (npm) against `mmtree serve` (run by .ci/redis-clients): `defineCommand` (EVALSHA,
// falling back to EVAL after SCRIPT FLUSH), a custom command inside a pipeline and a MULTI, plain
// pipelines and transactions, WATCH. Exits non-zero on the first reply that differs.
//
//     node ioredis-check.js PORT
"use strict";

const assert = require("node:assert/strict");
const Redis = require("ioredis");

const port = Number(process.argv[2]);

// Counts: a bounded counter with a history list. KEYS[1] the counter, KEYS[2] the list,
// ARGV[1] the increment, ARGV[2] the cap. Returns {new value, list length, capped?}.
const INCR_CAPPED = `
local v = redis.call('incrby', KEYS[1], ARGV[1])
local capped = 0
if v > tonumber(ARGV[2]) then
  redis.call('set', KEYS[1], ARGV[2])
  v = tonumber(ARGV[2])
  capped = 1
end
redis.call('rpush', KEYS[2], v)
return {v, redis.call('llen', KEYS[2]), capped}
`;

// EVAL and EVALSHA calls the server counted (INFO commandstats), to see what ioredis sent.
async function scriptCalls(redis) {
  const calls = { eval: 0, evalsha: 0 };
  for (const line of (await redis.info("commandstats")).split("\r\n")) {
    const m = /^cmdstat_(evalsha|eval):calls=(\d+)/.exec(line);
    if (m) calls[m[1]] = Number(m[2]);
  }
  return calls;
}

async function since(redis, before) {
  const now = await scriptCalls(redis);
  return { eval: now.eval - before.eval, evalsha: now.evalsha - before.evalsha };
}

async function main() {
  const redis = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  await redis.flushdb();

  redis.defineCommand("incrCapped", { numberOfKeys: 2, lua: INCR_CAPPED });
  // numberOfKeys left out: the caller passes it first, as with EVAL.
  redis.defineCommand("echoKeysArgs", { lua: "return {KEYS[1], ARGV[1], #KEYS, #ARGV}" });

  // The first call on a connection is an EVAL (ioredis does not know the server has it), the
  // next ones EVALSHA.
  let before = await scriptCalls(redis);
  assert.deepEqual(await redis.incrCapped("c", "hist", 4, 10), [4, 1, 0]);
  assert.deepEqual(await redis.incrCapped("c", "hist", 5, 10), [9, 2, 0]);
  assert.deepEqual(await redis.incrCapped("c", "hist", 5, 10), [10, 3, 1]);
  assert.deepEqual(await redis.echoKeysArgs(1, "k", "a"), ["k", "a", 1, 1]);
  assert.deepEqual(await redis.echoKeysArgs(2, "k1", "k2", "a", "b"), ["k1", "a", 2, 2]);
  // The Buffer variant.
  const buf = await redis.echoKeysArgsBuffer(1, "bk", "ba");
  assert.ok(Buffer.isBuffer(buf[0]) && buf[0].toString() === "bk", `buffer reply ${buf}`);
  assert.equal(await redis.get("c"), "10");
  assert.deepEqual(await redis.lrange("hist", 0, -1), ["4", "9", "10"]);
  assert.deepEqual(await since(redis, before), { eval: 2, evalsha: 4 }, "EVAL once per script, then EVALSHA");

  // SCRIPT FLUSH: the next call gets NOSCRIPT for its EVALSHA and ioredis falls back to EVAL.
  assert.equal(await redis.script("FLUSH"), "OK");
  assert.deepEqual(await redis.script("EXISTS", "0000000000000000000000000000000000000000"), [0]);
  await redis.set("c", 0);
  before = await scriptCalls(redis);
  assert.deepEqual(await redis.incrCapped("c", "hist", 3, 10), [3, 4, 0]);
  assert.deepEqual(await since(redis, before), { eval: 1, evalsha: 1 }, "EVALSHA, NOSCRIPT, then EVAL");
  // EVAL loaded it again: EVALSHA works from now on.
  before = await scriptCalls(redis);
  assert.deepEqual(await redis.incrCapped("c", "hist", 3, 10), [6, 5, 0]);
  assert.deepEqual(await since(redis, before), { eval: 0, evalsha: 1 });

  // A script error is a rejected promise; the connection goes on.
  await redis.set("text", "abc");
  await assert.rejects(redis.incrCapped("text", "hist", 1, 10), /not an integer/);
  assert.equal(await redis.ping(), "PONG");

  // A pipeline (one write, no MULTI), with the custom command in it, after another flush
  // (ioredis loads the scripts a pipeline uses with SCRIPT LOAD first).
  await redis.script("FLUSH");
  const piped = await redis
    .pipeline()
    .set("p:a", "1")
    .incr("p:a")
    .incrCapped("p:n", "p:hist", 7, 100)
    .rpush("p:list", "x", "y", "z")
    .lrange("p:list", 0, -1)
    .hset("p:h", "f1", "v1", "f2", "v2")
    .hgetall("p:h")
    .get("p:missing")
    .incr("text") // fails: the other replies stand
    .exec();
  assert.deepEqual(
    piped.map(([err, value]) => (err ? `ERR ${err.message}` : value)),
    [
      "OK",
      2,
      [7, 1, 0],
      3,
      ["x", "y", "z"],
      2,
      { f1: "v1", f2: "v2" },
      null,
      "ERR ERR value is not an integer or out of range",
    ],
  );

  // MULTI/EXEC: all replies at EXEC, with the custom command queued too.
  const tx = await redis
    .multi()
    .set("m:a", "5")
    .incrby("m:a", 10)
    .incrCapped("m:n", "m:hist", 50, 20)
    .zadd("m:z", 3, "c", 1, "a", 2, "b")
    .zrange("m:z", 0, -1, "WITHSCORES")
    .exec();
  assert.deepEqual(tx, [
    [null, "OK"],
    [null, 15],
    [null, [20, 1, 1]],
    [null, 3],
    [null, ["a", "1", "b", "2", "c", "3"]],
  ]);

  // A MULTI refused while queueing (wrong arity) fails as a whole: EXECABORT.
  await assert.rejects(redis.multi().set("never", "1").call("get").exec(), /EXECABORT/);
  assert.equal(await redis.exists("never"), 0);

  // WATCH: a key changed by another connection aborts the transaction (exec gives null).
  const other = new Redis({ port });
  await redis.watch("w");
  await other.set("w", "theirs");
  assert.equal(await redis.multi().set("w", "mine").exec(), null);
  assert.equal(await redis.get("w"), "theirs");
  await other.quit();

  // Many concurrent calls on one connection (ioredis pipelines them on the socket).
  const many = await Promise.all(
    Array.from({ length: 200 }, (_, i) => redis.incrCapped("many", "many:hist", 1, 1000 + i)),
  );
  assert.deepEqual(
    many.map(([v]) => v),
    Array.from({ length: 200 }, (_, i) => i + 1),
  );
  assert.equal(await redis.llen("many:hist"), 200);

  await redis.quit();
  console.log("ioredis: defineCommand (EVALSHA, EVAL after SCRIPT FLUSH), pipeline, MULTI, WATCH: ok");
}

main().catch((e) => {
  console.error("ioredis check failed:", e);
  process.exit(1);
});
