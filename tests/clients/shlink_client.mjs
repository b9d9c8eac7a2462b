// Drives every method of the npm client `@shlinkio/shlink-js-sdk` (unchanged) against
// SHLINK_BASE (the server, without /rest) with SHLINK_KEY (read-write), SHLINK_READ_KEY
// (read-only) and SHLINK_ADMIN_KEY (an administrator's), SHLINK_DOMAIN being an added domain,
// and prints one JSON object with what each call returned or the problem it threw, and where
// the short URLs sent a visitor (fetched through the same server, with the domain's Host). tests/e2e/test_shlink_client.py runs it
// against a live fleet through nginx and asserts on that object.
import { request } from "node:http";
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

// A visitor's redirect, not followed: its status, Location and Cache-Control.
async function visit(path, userAgent, language = "de-DE,de;q=0.9") {
  const response = await fetch(`${baseUrl}/${path}`, {
    redirect: "manual",
    headers: { "User-Agent": userAgent, "Accept-Language": language },
  });
  return {
    status: response.status,
    location: response.headers.get("location"),
    cacheControl: response.headers.get("cache-control"),
  };
}

// A visitor's request on the domain `host` (through the same server): status and Location.
function visitOn(host, path) {
  const url = new URL(`${baseUrl}/${path}`);
  return new Promise((resolve, reject) => {
    const sent = request(
      { hostname: url.hostname, port: url.port, path: url.pathname, headers: { Host: host } },
      (response) => {
        response.resume();
        resolve({ status: response.statusCode, location: response.headers.location ?? null });
      },
    );
    sent.on("error", reject);
    sent.end();
  });
}

// The SDK's transport for the added domain, which has no DNS: `fetch` for FetchHttpClient
// that sends each request to the server at SHLINK_BASE with the URL's authority as its Host.
function fetchThroughServer(url, init = {}) {
  const wanted = new URL(url);
  const server = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const sent = request(
      {
        hostname: server.hostname,
        port: server.port,
        path: `${wanted.pathname}${wanted.search}`,
        method: init.method ?? "GET",
        headers: { ...init.headers, Host: wanted.host },
      },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("end", () =>
          resolve(new Response(Buffer.concat(chunks), { status: response.statusCode })),
        );
      },
    );
    sent.on("error", reject);
    sent.end(init.body);
  });
}

// `visitOn` once it goes to `wanted` (every replica loads a new domain within a second), or
// the last answer after 10 s.
async function visitOnUntil(host, path, wanted) {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const answer = await visitOn(host, path);
    if (answer.location === wanted) return answer;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return visitOn(host, path);
}

// The redirect once it goes to `wanted` (an edit reaches every replica within a second), or
// the last answer after 10 s.
async function visitUntil(path, userAgent, wanted, language = undefined) {
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const answer = await visit(path, userAgent, language);
    if (answer.location === wanted) return answer;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return visit(path, userAgent, language);
}

const ANDROID =
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) " +
  "Chrome/120.0.0.0 Mobile Safari/537.36";
const DESKTOP = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
const shlink = client(process.env.SHLINK_KEY);
const readOnly = client(process.env.SHLINK_READ_KEY);
const admin = client(process.env.SHLINK_ADMIN_KEY);
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
// Redirect rules on a short URL of their own (its visits are no business of the others).
const rulesId = { shortCode: `rules-${suffix}` };
const rulesDefault = `https://example.org/shlink-rules/${suffix}`;
result.rulesCreate = await outcome(() =>
  shlink.createShortUrl({ longUrl: rulesDefault, customSlug: rulesId.shortCode }),
);
result.redirectRules = await outcome(() => shlink.getShortUrlRedirectRules(rulesId));
result.visitBeforeRules = await visit(rulesId.shortCode, ANDROID); // cached by a replica now
result.setRedirectRules = await outcome(() =>
  shlink.setShortUrlRedirectRules(rulesId, {
    redirectRules: [
      {
        longUrl: "https://android.example/",
        conditions: [{ type: "device", matchKey: null, matchValue: "android" }],
      },
      {
        longUrl: "https://promo.example/",
        conditions: [
          { type: "query-param", matchKey: "promo", matchValue: "sdk" },
          { type: "language", matchKey: null, matchValue: "en-US" },
        ],
      },
    ],
  }),
);
result.redirectRulesAfter = await outcome(() => shlink.getShortUrlRedirectRules(rulesId));
result.rulesShortUrl = await outcome(() => shlink.getShortUrl(rulesId));
result.visitAndroid = await visitUntil(rulesId.shortCode, ANDROID, "https://android.example/");
// Created by this client, the short URL forwards the query (Shlink's default): so does its rule.
result.visitPromo = await visitUntil(
  `${rulesId.shortCode}?promo=sdk`,
  DESKTOP,
  "https://promo.example/?promo=sdk",
  "en-US,en;q=0.8",
);
result.visitPromoInGerman = await visit(`${rulesId.shortCode}?promo=sdk`, DESKTOP);
result.visitDesktop = await visit(rulesId.shortCode, DESKTOP);
result.setCityRule = await outcome(() =>
  shlink.setShortUrlRedirectRules(rulesId, {
    redirectRules: [
      {
        longUrl: "https://paris.example/",
        conditions: [{ type: "geolocation-city-name", matchKey: null, matchValue: "Paris" }],
      },
    ],
  }),
);
result.setNoRedirectRules = await outcome(() =>
  shlink.setShortUrlRedirectRules(rulesId, { redirectRules: [] }),
);
result.visitAndroidAfterClearing = await visitUntil(rulesId.shortCode, ANDROID, rulesDefault);
result.rulesDelete = await outcome(() => shlink.deleteShortUrl(rulesId));
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
result.adminVisitsOverview = await outcome(() => admin.getVisitsOverview());
result.adminDeleteOrphanVisits = await outcome(() => admin.deleteOrphanVisits());
result.adminVisitsOverviewAfter = await outcome(() => admin.getVisitsOverview());
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
// A short URL with the same short code on the added domain: a second link.
const domain = process.env.SHLINK_DOMAIN;
const onDomain = { shortCode: slug, domain };
result.createOnDomain = await outcome(() =>
  shlink.createShortUrl({ longUrl: `${longUrl}/on-domain`, customSlug: slug, domain }),
);
result.getOnDomain = await outcome(() => shlink.getShortUrl(onDomain));
result.getOnDefaultDomain = await outcome(() => shlink.getShortUrl(id));
result.listOnDomain = await outcome(() => shlink.listShortUrls({ domain }));
result.domainVisitsOnDomain = await outcome(() => shlink.getDomainVisits(domain));
result.visitOnDomain = await visitOnUntil(domain, slug, `${longUrl}/on-domain`);
// The SDK's health check of a domain, as shlink-web-client makes it for each one it lists.
const throughServer = new ShlinkApiClient(new FetchHttpClient(fetchThroughServer), {
  baseUrl,
  apiKey: process.env.SHLINK_KEY,
});
result.healthOnDomain = await outcome(() => throughServer.health({ domain }));
// Domains are administered: a key that is not an administrator's may not edit them.
result.editDomainRedirectsForbidden = await outcome(() =>
  shlink.editDomainRedirects({ domain, baseUrlRedirect: "https://example.org/sdk-home" }),
);
result.editDomainRedirects = await outcome(() =>
  admin.editDomainRedirects({
    domain,
    baseUrlRedirect: "https://example.org/sdk-home",
    invalidShortUrlRedirect: "https://example.org/sdk-missing",
  }),
);
result.listDomainsAfter = await outcome(() => shlink.listDomains());
result.visitDomainRoot = await visitOnUntil(domain, "", "https://example.org/sdk-home");
result.visitDomainMissing = await visitOnUntil(
  domain,
  `missing-${suffix}`,
  "https://example.org/sdk-missing",
);
result.editDefaultDomainNull = await outcome(() =>
  admin.editDomainRedirects({ domain: host, baseUrlRedirect: null }),
);
result.editDefaultDomain = await outcome(() =>
  admin.editDomainRedirects({ domain: host, baseUrlRedirect: "https://example.org/" }),
);
result.editUnknownDomain = await outcome(() =>
  admin.editDomainRedirects({ domain: `nowhere-${suffix}.example`, baseUrlRedirect: null }),
);
result.deleteOnDomain = await outcome(() => shlink.deleteShortUrl(onDomain));
result.getOnDomainDeleted = await outcome(() => shlink.getShortUrl(onDomain));
result.mercureInfo = await outcome(() => shlink.mercureInfo());
result.takenSlug = await outcome(() => shlink.createShortUrl({ longUrl, customSlug: slug }));
// crawlable and forwardQuery on a short URL of their own, deleted again (the counts below).
const flagsId = { shortCode: `flags-${suffix}` };
result.flagsCreate = await outcome(() =>
  shlink.createShortUrl({
    longUrl: `${longUrl}/flags?from=target`,
    customSlug: flagsId.shortCode,
    crawlable: true,
  }),
);
result.flagsVisit = await visit(`${flagsId.shortCode}?utm_source=sdk&from=visit`, DESKTOP);
result.robots = await (await fetch(`${baseUrl}/robots.txt`)).text();
result.flagsEdit = await outcome(() =>
  shlink.updateShortUrl(flagsId, { crawlable: false, forwardQuery: false }),
);
result.flagsVisitAfterEdit = await visitUntil(
  `${flagsId.shortCode}?utm_source=sdk`,
  DESKTOP,
  `${longUrl}/flags?from=target`,
);
result.flagsDelete = await outcome(() => shlink.deleteShortUrl(flagsId));
result.readOnlyCreate = await outcome(() => readOnly.createShortUrl({ longUrl }));
result.readOnlyList = await outcome(() => readOnly.listShortUrls());
result.badKey = await outcome(() => client("not-a-key").listShortUrls());
result.deleteGenerated = await outcome(() =>
  shlink.deleteShortUrl({ shortCode: result.generated.value.shortCode }),
);
result.delete = await outcome(() => shlink.deleteShortUrl(id));
result.getDeleted = await outcome(() => shlink.getShortUrl(id));

process.stdout.write(JSON.stringify(result));
