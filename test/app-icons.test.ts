// The web app's install icons: the manifest lists 192 and 512 px PNGs (any and maskable), which Chrome on Android needs before it offers to install (and so the share target).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { startTestServer } from "./support/server.ts";
import type { Nasty } from "../src/main.ts";
// @ts-expect-error: a plain script, run once to draw the icons; the test checks the committed files are what it draws.
import { iconRows } from "../static/make-icons.mjs";

let nasty: Nasty;

before(async () => {
  nasty = await startTestServer();
});
after(() => nasty.close());

/** A PNG's width, height, bit depth and colour type (IHDR), and its pixel rows (IDAT, inflated). */
function readPng(bytes: Buffer): { width: number; height: number; depth: number; colorType: number; rows: Buffer } {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "the PNG signature");
  let offset = 8;
  let header: Buffer | null = null;
  const data: Buffer[] = [];
  for (let chunks = 0; offset < bytes.length && chunks < 1000; chunks += 1) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString("latin1", offset + 4, offset + 8);
    const body = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") header = body;
    if (type === "IDAT") data.push(body);
    offset += 12 + length;
  }
  assert.ok(header !== null, "an IHDR chunk");
  return { width: header.readUInt32BE(0), height: header.readUInt32BE(4), depth: header[8]!, colorType: header[9]!, rows: zlib.inflateSync(Buffer.concat(data)) };
}

test("the manifest lists 192 and 512 px PNG icons (any, and a maskable one), served as image/png at those sizes", async () => {
  const page = await (await fetch(`${nasty.url}/`)).text();
  const manifestHref = /<link rel="manifest" href="([^"]+)"/.exec(page)?.[1];
  assert.ok(manifestHref !== undefined, "the page links its manifest");
  const manifest = await (await fetch(nasty.url + manifestHref.replaceAll("&amp;", "&"))).json();
  const icons: { src: string; sizes: string; type: string; purpose: string }[] = manifest.icons;
  const png = icons.filter((icon) => icon.type === "image/png");
  const has = (size: string, purpose: string) => png.some((icon) => icon.sizes === size && icon.purpose.split(" ").includes(purpose));
  assert.ok(has("192x192", "any"), "a 192 px PNG for any use");
  assert.ok(has("512x512", "any"), "a 512 px PNG for any use");
  assert.ok(has("512x512", "maskable"), "a maskable 512 px PNG");
  assert.ok(icons.some((icon) => icon.type === "image/svg+xml"), "the SVG stays for browsers that take it");
  for (const icon of png) {
    const response = await fetch(new URL(icon.src, nasty.url));
    assert.equal(response.status, 200, icon.src);
    assert.equal(response.headers.get("content-type"), "image/png", icon.src);
    const read = readPng(Buffer.from(await response.arrayBuffer()));
    const [width, height] = icon.sizes.split("x").map(Number);
    assert.deepEqual([read.width, read.height, read.depth, read.colorType], [width, height, 8, 6], `${icon.src} is ${icon.sizes}, 8-bit RGBA`);
    assert.ok(read.rows.equals(iconRows(width, icon.purpose.includes("maskable"))), `${icon.src} is what static/make-icons.mjs draws`);
  }
});

test("the manifest is also at /manifest.webmanifest: the same bytes as the linked one, as application/manifest+json", async () => {
  const page = await (await fetch(`${nasty.url}/`)).text();
  const manifestHref = /<link rel="manifest" href="([^"]+)"/.exec(page)?.[1];
  assert.ok(manifestHref !== undefined, "the page links its manifest");
  const linked = await fetch(nasty.url + manifestHref.replaceAll("&amp;", "&"));
  const fixed = await fetch(`${nasty.url}/manifest.webmanifest`);
  assert.equal(fixed.status, 200);
  assert.equal(fixed.headers.get("content-type"), "application/manifest+json; charset=utf-8");
  const fixedBytes = Buffer.from(await fixed.arrayBuffer());
  assert.ok(fixedBytes.length > 0 && fixedBytes.equals(Buffer.from(await linked.arrayBuffer())), "the same bytes");
  assert.equal(JSON.parse(fixedBytes.toString("utf8")).share_target.action, "/bookmarks");
  assert.equal((await fetch(`${nasty.url}/manifest.webmanifest`, { method: "HEAD" })).status, 200);
  assert.equal((await fetch(`${nasty.url}/manifest.json`)).status, 404, "a positive control: other names are not pages");
});
