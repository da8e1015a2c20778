// The fetcher's own parts: the address rule (SSRF guard), metadata extraction, and bounded fetches against a local server on loopback.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { setTimeout as delay } from "node:timers/promises";
import { Worker } from "node:worker_threads";
import type { AddressInfo } from "node:net";
import { addressRefusal } from "../src/fetch/address.ts";
import { extractMetadata, decodeBody } from "../src/fetch/metadata.ts";
import { fetchBounded, FETCH_LIMITS, type FetchOptions } from "../src/fetch/http-fetch.ts";
import { HostLimiter } from "../src/fetch/host-limiter.ts";

describe("addressRefusal: only public unicast addresses may be fetched", () => {
  const refused: [string, RegExp][] = [
    ["127.0.0.1", /loopback/], ["127.255.255.254", /loopback/], ["10.0.0.1", /private/], ["10.255.255.255", /private/],
    ["172.16.0.1", /private/], ["172.31.255.255", /private/], ["192.168.1.1", /private/], ["169.254.169.254", /link-local/],
    ["100.64.0.1", /CGNAT/], ["100.127.255.255", /CGNAT/], ["0.0.0.0", /unspecified/], ["0.1.2.3", /unspecified/],
    ["224.0.0.1", /multicast/], ["239.255.255.250", /multicast/], ["255.255.255.255", /reserved/], ["240.0.0.1", /reserved/],
    ["192.0.2.10", /documentation/], ["198.51.100.7", /documentation/], ["203.0.113.9", /documentation/], ["198.18.0.1", /benchmarking/],
    ["192.0.0.8", /IETF/], ["192.88.99.1", /6to4/],
    ["::", /unspecified/], ["::1", /loopback/], ["0:0:0:0:0:0:0:1", /loopback/], ["::ffff:127.0.0.1", /IPv4-mapped/],
    ["::ffff:8.8.8.8", /IPv4-mapped/], ["::ffff:7f00:1", /IPv4-mapped/], ["fc00::1", /ULA/], ["fd12:3456:789a::1", /ULA/],
    ["fe80::1", /link-local/], ["fe80::1%eth0", /link-local/], ["[fe80::abcd]", /link-local/], ["febf::1", /link-local/], ["fec0::1", /site-local/],
    ["ff02::1", /multicast/], ["ff0e::1", /multicast/], ["::127.0.0.1", /not global/], ["64:ff9b::7f00:1", /not global/], ["100::1", /not global/],
    ["2001:db8::1", /documentation/], ["2001::1", /IETF/], ["2001:2::1", /IETF/], ["2002:7f00:1::1", /6to4/], ["3fff::1", /documentation/],
    ["localhost", /not an IP/], ["", /not an IP/], ["1.2.3", /not an IP/], ["256.1.1.1", /not an IP/],
  ];
  const allowed = ["8.8.8.8", "1.1.1.1", "93.184.215.14", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "192.169.0.1", "169.253.0.1", "223.255.255.255",
    "2606:4700:4700::1111", "2a00:1450:4001:81b::200e", "2001:4860:4860::8888", "2001:200::1", "2600::1"];

  for (const [address, why] of refused) {
    test(`refuses ${JSON.stringify(address)}`, () => {
      const refusal = addressRefusal(address);
      assert.equal(typeof refusal, "string", `${address} was allowed`);
      assert.match(refusal!, why);
    });
  }
  test("allows public addresses (positive controls)", () => {
    for (const address of allowed) assert.equal(addressRefusal(address), null, address);
  });
});

describe("extractMetadata", () => {
  test("Open Graph before <title>, meta description before og:description, canonical link, entities decoded", () => {
    const html = `<!doctype html><html><head><title>Plain &amp; simple</title>
      <meta property="og:title" content="OG &quot;title&quot; &lt;b&gt;">
      <meta name=description content='Meta description &eacute;t&eacute;'>
      <meta property="og:description" content="OG description">
      <meta property="og:site_name" content="Example&nbsp;Site">
      <link rel="canonical" href="/canonical?a=1&amp;b=2"></head><body>x</body></html>`;
    assert.deepEqual(extractMetadata(html, "https://example.org/page"), {
      title: 'OG "title" <b>', description: "Meta description été", site_name: "Example Site", canonical_url: "https://example.org/canonical?a=1&b=2",
    });
  });

  test("falls back to <title>, og:description, og:url; nothing found is null; control characters and line breaks go", () => {
    const html = `<head><TITLE>\n  Line\tone\u0001 two  </TITLE><meta content="only og" property="og:description"><meta property="og:url" content="javascript:alert(1)"></head>`;
    assert.deepEqual(extractMetadata(html, "https://example.org/"), { title: "Line one\uFFFD two", description: "only og", site_name: null, canonical_url: null });
    assert.deepEqual(extractMetadata("<p>no head</p>", "https://example.org/"), { title: null, description: null, site_name: null, canonical_url: null });
  });

  test("a '>' inside a quoted attribute value does not end the tag (as in a browser); markup there stays text", () => {
    const html = `<head><meta property="og:description" content="Use <b>bold</b> &amp; 'quotes' > all">
      <meta property='og:site_name' content='<i>Site</i> "one"'><link href="/a>b" rel="canonical"></head>`;
    assert.deepEqual(extractMetadata(html, "https://example.org/"), {
      title: null, description: "Use <b>bold</b> & 'quotes' > all", site_name: '<i>Site</i> "one"', canonical_url: "https://example.org/a%3Eb",
    });
  });

  test("an unclosed quote in a tag ends the scan instead of costing a pass over the rest of the page per tag", () => {
    const html = `<meta property="og:site_name" content="Kept"><meta content="x ${'<meta content="y '.repeat(20_000)}`;
    assert.equal(extractMetadata(html, "https://example.org/").site_name, "Kept");
  });

  test("a hostile page (tags that never close, filling the scanned 512 KiB) is read in one pass, not one per tag", async () => {
    // Quadratic scanning blocked the event loop for about a minute on such a page. Run in a worker,
    // so a regression fails on the (generous) bound instead of hanging the suite.
    const script = `
      const { parentPort } = require("node:worker_threads");
      import("tsx/esm/api")
        .then(({ tsImport }) => tsImport(${JSON.stringify(new URL("../src/fetch/metadata.ts", import.meta.url).href)}, ${JSON.stringify(import.meta.url)}))
        .then(({ extractMetadata }) => {
          const fill = (unit) => unit.repeat(Math.ceil(524288 / unit.length)).slice(0, 524288);
          parentPort.postMessage(["<meta a", "<title", "<link "].map((unit) => extractMetadata(fill(unit), "https://x.org/").title));
        });`;
    const worker = new Worker(script, { eval: true });
    const bound = new AbortController();
    try {
      const answer = await Promise.race([
        once(worker, "message").then(([titles]) => titles as unknown),
        once(worker, "error").then(([error]) => { throw error; }),
        delay(20_000, "still scanning after 20 s", { signal: bound.signal }),
      ]);
      assert.deepEqual(answer, [null, null, null]);
    } finally {
      bound.abort();
      await worker.terminate();
    }
  });

  test("a long title is cut to the bookmark's limit; the charset of the header or a meta tag is used", () => {
    assert.equal(extractMetadata(`<title>${"t".repeat(900)}</title>`, "https://x.org/").title!.length, 500);
    const latin1 = Buffer.concat([Buffer.from('<meta charset="iso-8859-1"><title>caf'), Buffer.from([0xe9]), Buffer.from("</title>")]);
    assert.equal(extractMetadata(decodeBody(latin1, "text/html"), "https://x.org/").title, "café");
    assert.equal(extractMetadata(decodeBody(Buffer.from("<title>caf\u00e9</title>", "utf8"), "text/html; charset=utf-8"), "https://x.org/").title, "café");
  });
});

describe("HostLimiter", () => {
  test("at most N per host and M in total run at once; beyond the queue bound is 503", async () => {
    const limiter = new HostLimiter(1, 2, 2);
    let running = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const work = () => new Promise<void>((resolve) => {
      running += 1;
      most = Math.max(most, running);
      releases.push(() => {
        running -= 1;
        resolve();
      });
    });
    const jobs = [limiter.run("a", work), limiter.run("a", work), limiter.run("b", work), limiter.run("c", work)];
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(running, 2, "one of a, and b: c waits for the total");
    await assert.rejects(limiter.run("d", work), /too many fetches waiting/);
    assert.deepEqual(limiter.busy, { running: 2, waiting: 2 });
    while (releases.length > 0 || running > 0) {
      releases.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(jobs);
    assert.equal(most, 2);
  });
});

/** A local server on 127.0.0.1 that serves the pages a fetcher meets, counting requests. */
function pageServer(host: string): Promise<{ server: http.Server; base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = http.createServer((request, response) => {
    hits.push(`${request.method} ${request.url}`);
    const url = request.url ?? "/";
    const html = (body: string, status = 200) => {
      response.writeHead(status, { "content-type": "text/html; charset=utf-8" });
      response.end(body);
    };
    if (url === "/title") return html("<title>Hello &amp; welcome</title>");
    if (url === "/og") return html('<meta property="og:title" content="From OG"><meta property="og:site_name" content="Loop">');
    if (url === "/redirect") return response.writeHead(302, { location: "/og" }).end();
    if (url.startsWith("/to/")) return response.writeHead(301, { location: decodeURIComponent(url.slice(4)) }).end();
    if (url === "/slow") return void setTimeout(() => html("<title>too late</title>"), 2000);
    if (url === "/huge") return html(`<title>huge</title>${"x".repeat(FETCH_LIMITS.bodyBytesMax + 10)}`);
    if (url === "/huge-chunked") {
      response.writeHead(200, { "content-type": "text/html" });
      for (let index = 0; index < 40; index += 1) response.write("y".repeat(64 * 1024));
      return response.end();
    }
    if (url === "/binary") {
      response.writeHead(200, { "content-type": "image/png" });
      return response.end(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2]));
    }
    if (url === "/loop") return response.writeHead(302, { location: "/loop-2" }).end();
    if (url === "/loop-2") return response.writeHead(302, { location: "/loop" }).end();
    const chain = /^\/chain\/(\d+)$/.exec(url);
    if (chain) return response.writeHead(302, { location: `/chain/${Number(chain[1]) + 1}` }).end();
    if (url === "/head-refused" && request.method === "HEAD") return response.writeHead(405).end();
    if (url === "/head-refused") return html("<title>GET works</title>");
    return html("<title>Not found</title>", 404);
  });
  return new Promise((resolve) => server.listen(0, host, () => resolve({ server, base: `http://${host}:${(server.address() as AddressInfo).port}`, hits })));
}

describe("fetchBounded against a loopback server", () => {
  let site: Awaited<ReturnType<typeof pageServer>>;
  let privateSite: Awaited<ReturnType<typeof pageServer>>;
  // Only the test site's own address passes: everything else gets the public-internet rule.
  const onlySite = (address: string) => (address === "127.0.0.1" ? null : addressRefusal(address));
  const get = (path: string, extra: Partial<FetchOptions> = {}) =>
    fetchBounded(path.startsWith("http") ? path : site.base + path, { method: "GET", userAgent: "Nasty/test", allowPrivate: false, htmlOnly: true, readBody: true, refusal: onlySite, ...extra });

  before(async () => {
    site = await pageServer("127.0.0.1");
    privateSite = await pageServer("127.0.0.2");
  });
  after(() => {
    site.server.closeAllConnections();
    privateSite.server.closeAllConnections();
    site.server.close();
    privateSite.server.close();
  });

  test("a page, and a redirect to one", async () => {
    const page = await get("/title");
    assert.ok(page.ok && page.body.toString().includes("Hello"), JSON.stringify(page));
    const redirected = await get("/redirect");
    assert.ok(redirected.ok);
    assert.equal(redirected.finalUrl, `${site.base}/og`);
  });

  test("a redirect to a private address is refused, and that address gets no request", async () => {
    const result = await get(`/to/${encodeURIComponent(`${privateSite.base}/title`)}`);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.failure, "refused address");
    assert.equal(privateSite.hits.length, 0);
  });

  test("without the narrowed rule, loopback itself is refused and never requested", async () => {
    const before = site.hits.length;
    const byAddress = await get("/title", { refusal: undefined });
    const byName = await get(`http://localhost:${new URL(site.base).port}/title`, { refusal: undefined });
    assert.equal(!byAddress.ok && byAddress.failure, "refused address");
    assert.equal(!byName.ok && byName.failure, "refused address");
    const port = new URL(site.base).port;
    for (const disguised of [`http://0x7f000001:${port}/title`, `http://2130706433:${port}/title`, `http://127.1:${port}/title`, `http://[::ffff:127.0.0.1]:${port}/title`, `http://[::1]:${port}/title`]) {
      const result = await get(disguised, { refusal: undefined });
      assert.equal(!result.ok && result.failure, "refused address", disguised);
    }
    assert.equal(site.hits.length, before);
  });

  test("slow, huge, binary, 404, a loop, too many redirects, not http", async () => {
    const expectations: [string, string, Partial<FetchOptions>?][] = [
      ["/slow", "timed out", { timeoutMs: 300 }],
      ["/huge", "too big"],
      ["/huge-chunked", "too big"],
      ["/binary", "not HTML"],
      ["/missing", "HTTP error"],
      ["/loop", "redirect loop"],
      ["/chain/1", "too many redirects"],
      [`/to/${encodeURIComponent("ftp://example.org/")}`, "not an http(s) URL"],
    ];
    for (const [path, failure, extra] of expectations) {
      const result = await get(path, extra);
      assert.equal(result.ok ? "ok" : result.failure, failure, path);
    }
    const missing = await get("/missing");
    assert.equal(!missing.ok && missing.status, 404);
    assert.ok(site.hits.filter((hit) => hit.startsWith("GET /chain/")).length === FETCH_LIMITS.redirectsMax + 1, "stops after the redirect bound");
  });

  test("HEAD answers without a body; the User-Agent is sent", async () => {
    const head = await get("/title", { method: "HEAD", readBody: false });
    assert.ok(head.ok && head.status === 200 && head.body.length === 0);
    assert.ok(site.hits.includes("HEAD /title"));
  });
});
