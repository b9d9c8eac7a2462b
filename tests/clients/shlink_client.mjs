// Drives every method of the npm client `@shlinkio/shlink-js-sdk` (unchanged) against
// SHLINK_BASE (the server, without /rest) with SHLINK_KEY (read-write) and SHLINK_READ_KEY
// (read-only), and prints one JSON object with what each call returned or the problem it
// threw. tests/e2e/test_shlink_client.py runs it against a live fleet through nginx and
// asserts on that object.
import { ShlinkApiClient } from "@shlinkio/shlink-js-sdk";
import { FetchHttpClient } from "@shlinkio/shlink-js-sdk/fetch";

const baseUrl = process.env.SHLINK_BASE;
const suffix = process.env.SHLINK_SUFFIX ?? String(Date.now());
const http = new FetchHttpClient();

function client(apiKey) {
  return new ShlinkApiClient(http, { baseUrl, apiKey });
}

async function outcome(call) {
  try {
    const value = await call();
    return { ok: true, value: value ?? null };
  } catch (error) {
    // FetchHttpClient throws the problem+json body of a failed request.
    return { ok: false, error: error instanceof Error ? { message: error.message } : error };
  }
}

const shlink = client(process.env.SHLINK_KEY);
const readOnly = client(process.env.SHLINK_READ_KEY);
const slug = `shlink-${suffix}`;
const id = { shortCode: slug };
const longUrl = `https://example.org/shlink-client/${suffix}`;
const validUntil = new Date(Date.now() + 2 * 86400 * 1000).toISOString();
const result = {};

result.health = await outcome(() => shlink.health());
result.create = await outcome(() =>
  shlink.createShortUrl({
    longUrl,
    customSlug: slug,
    tags: ["sdk", `tag-${suffix}`],
    title: "Made by the Shlink SDK",
    validUntil,
    maxVisits: 100,
  }),
);
result.findIfExists = await outcome(() =>
  shlink.createShortUrl({ longUrl, customSlug: slug, findIfExists: true }),
);
result.generated = await outcome(() =>
  shlink.createShortUrl({ longUrl: `${longUrl}/generated`, shortCodeLength: 9 }),
);
result.list = await outcome(() =>
  shlink.listShortUrls({
    tags: [`tag-${suffix}`],
    tagsMode: "all",
    orderBy: { field: "dateCreated", dir: "DESC" },
    itemsPerPage: 5,
    excludeMaxVisitsReached: true,
    excludePastValidUntil: true,
  }),
);
result.listAll = await outcome(() => shlink.listShortUrls({ itemsPerPage: -1 }));
result.get = await outcome(() => shlink.getShortUrl(id));
result.getWithDomain = await outcome(() =>
  shlink.getShortUrl({ shortCode: slug, domain: "elsewhere.example" }),
);
result.update = await outcome(() =>
  shlink.updateShortUrl(id, {
    longUrl: `${longUrl}/changed`,
    title: "Changed by the Shlink SDK",
    tags: ["sdk", `tag-${suffix}`, "extra"],
    maxVisits: null,
    validUntil: null,
  }),
);
result.redirectRules = await outcome(() => shlink.getShortUrlRedirectRules(id));
result.setNoRedirectRules = await outcome(() =>
  shlink.setShortUrlRedirectRules(id, { redirectRules: [] }),
);
result.setRedirectRules = await outcome(() =>
  shlink.setShortUrlRedirectRules(id, {
    redirectRules: [
      {
        longUrl: "https://android.example/",
        conditions: [{ type: "device", matchKey: null, matchValue: "android" }],
      },
    ],
  }),
);
result.visitsOverview = await outcome(() => shlink.getVisitsOverview());
result.shortUrlVisits = await outcome(() =>
  shlink.getShortUrlVisits(id, { page: 1, itemsPerPage: 20, excludeBots: true }),
);
result.tagVisits = await outcome(() => shlink.getTagVisits("sdk"));
result.domainVisits = await outcome(() => shlink.getDomainVisits("DEFAULT"));
result.orphanVisits = await outcome(() => shlink.getOrphanVisits({ type: "regular_404" }));
result.nonOrphanVisits = await outcome(() => shlink.getNonOrphanVisits());
result.deleteShortUrlVisits = await outcome(() => shlink.deleteShortUrlVisits(id));
result.deleteOrphanVisits = await outcome(() => shlink.deleteOrphanVisits());
result.listTags = await outcome(() => shlink.listTags());
result.tagsStats = await outcome(() => shlink.tagsStats());
result.editTag = await outcome(() =>
  shlink.editTag({ oldName: "extra", newName: `renamed-${suffix}` }),
);
result.editMissingTag = await outcome(() =>
  shlink.editTag({ oldName: `missing-${suffix}`, newName: "whatever" }),
);
result.deleteTags = await outcome(() => shlink.deleteTags([`renamed-${suffix}`]));
result.tagsAfter = await outcome(() => shlink.listTags());
result.listDomains = await outcome(() => shlink.listDomains());
const host = new URL(baseUrl).hostname;
result.editDomainRedirectsNull = await outcome(() =>
  shlink.editDomainRedirects({ domain: host, baseUrlRedirect: null }),
);
result.editDomainRedirects = await outcome(() =>
  shlink.editDomainRedirects({ domain: host, baseUrlRedirect: "https://example.org/" }),
);
result.mercureInfo = await outcome(() => shlink.mercureInfo());
result.takenSlug = await outcome(() => shlink.createShortUrl({ longUrl, customSlug: slug }));
result.crawlable = await outcome(() => shlink.createShortUrl({ longUrl, crawlable: true }));
result.readOnlyCreate = await outcome(() => readOnly.createShortUrl({ longUrl }));
result.readOnlyList = await outcome(() => readOnly.listShortUrls());
result.badKey = await outcome(() => client("not-a-key").listShortUrls());
result.deleteGenerated = await outcome(() =>
  shlink.deleteShortUrl({ shortCode: result.generated.value.shortCode }),
);
result.delete = await outcome(() => shlink.deleteShortUrl(id));
result.getDeleted = await outcome(() => shlink.getShortUrl(id));

process.stdout.write(JSON.stringify(result));
