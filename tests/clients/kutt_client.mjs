// Drives every method of the npm client `kutt` (unchanged) that maps to LinkFleet's Kutt API,
// against KUTT_API with KUTT_KEY (read-write) and KUTT_READ_KEY (read-only), KUTT_DOMAIN being
// an added domain, and prints one JSON object with what each call returned or the error it
// raised. tests/e2e/test_kutt_client.py
// runs it against a live fleet through nginx and asserts on that object.
import { Kutt } from "kutt";

const api = process.env.KUTT_API;
const suffix = process.env.KUTT_SUFFIX ?? String(Date.now());
const host = new URL(api).hostname;

function client(key) {
  return new Kutt().set("api", api).set("key", key).set("timeout", 10000);
}

async function outcome(call) {
  try {
    const value = await call();
    return { ok: true, value };
  } catch (error) {
    return { ok: false, message: error.message, status: error.cause?.status ?? null };
  }
}

const kutt = client(process.env.KUTT_KEY);
const readOnly = client(process.env.KUTT_READ_KEY);
const links = kutt.links();
const target = `https://example.org/kutt-client/${suffix}`;
const result = {};

result.health = await kutt.health().check();
result.create = await outcome(() =>
  links.create({
    target,
    description: "Made by the npm client",
    expire_in: "2 minutes",
    password: "secret",
    customurl: `kutt-${suffix}`,
    reuse: false,
    domain: host,
  }),
);
const created = result.create.value;
result.createdAtIsDate = created?.created_at instanceof Date;
result.reuse = await outcome(() => links.create({ target, reuse: true }));
result.list = await outcome(() => links.list({ skip: 0, limit: 5 }));
result.update = await outcome(() =>
  links.update(created.id, {
    target: `${target}/changed`,
    address: `kutt-${suffix}-changed`,
    description: "Changed by the npm client",
    expire_in: "1 day",
  }),
);
result.stats = await outcome(() => links.stats(created.id));
// The changed address again, on the added domain: a second link.
result.createOnDomain = await outcome(() =>
  links.create({
    target: `${target}/on-domain`,
    customurl: `kutt-${suffix}-changed`,
    domain: process.env.KUTT_DOMAIN,
  }),
);
result.users = await outcome(() => kutt.users().info());
result.badTarget = await outcome(() => links.create({ target: "ftp://example.org/file" }));
result.takenAddress = await outcome(() =>
  links.create({ target, customurl: `kutt-${suffix}-changed` }),
);
result.readOnlyCreate = await outcome(() => readOnly.links().create({ target }));
result.readOnlyList = await outcome(() => readOnly.links().list());
result.badKey = await outcome(() => client("not-a-key").links().list());
result.domainCreate = await outcome(() => kutt.domains().create({ address: "own.example" }));
result.domainRemove = await outcome(() =>
  kutt.domains().remove(result.users.value?.domains?.[0]?.id ?? "no-domain-listed"),
);
result.remove = await outcome(() => links.remove(created.id));
result.removedAgain = await outcome(() => links.remove(created.id));
result.statsOfRemoved = await outcome(() => links.stats(created.id));

process.stdout.write(JSON.stringify(result));
