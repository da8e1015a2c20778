// Draws the web app's PNG icons (static/icon-*.png) from the shape of static/icon.svg: run once with `node static/make-icons.mjs`, commit the files.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

/** The icons the manifest lists: Chrome on Android wants 192 and 512 px PNGs before it offers to install. */
export const ICONS = [
  { file: "icon-192.png", size: 192, maskable: false },
  { file: "icon-512.png", size: 512, maskable: false },
  { file: "icon-maskable-512.png", size: 512, maskable: true },
];

/** Samples per pixel side: 4 × 4 samples give smooth edges, and the same bytes on every run. */
const SAMPLES = 4;
const BACKGROUND = [0xc2, 0x18, 0x5b];
const FOREGROUND = [0xff, 0xff, 0xff];

/**
 * What covers a point of icon.svg's 32 × 32 box: the white diamond (|x−16| + |y−16| ≤ 11), the
 * rounded square (corner radius 7; a maskable icon fills the whole square, the launcher cuts it),
 * or nothing. The diamond stays inside the maskable safe zone (a circle of radius 40 %).
 */
function paint(x, y, maskable) {
  if (Math.abs(x - 16) + Math.abs(y - 16) <= 11) return FOREGROUND;
  if (maskable) return BACKGROUND;
  const dx = Math.max(7 - x, x - 25, 0);
  const dy = Math.max(7 - y, y - 25, 0);
  return dx * dx + dy * dy <= 49 ? BACKGROUND : null;
}

/** The icon's pixels, RGBA, one row after the other, each row led by PNG filter byte 0. */
export function iconRows(size, maskable) {
  const rowBytes = 1 + size * 4;
  const rows = Buffer.alloc(rowBytes * size);
  for (let row = 0; row < size; row += 1) {
    for (let column = 0; column < size; column += 1) {
      const sum = [0, 0, 0, 0];
      for (let sampleY = 0; sampleY < SAMPLES; sampleY += 1) {
        for (let sampleX = 0; sampleX < SAMPLES; sampleX += 1) {
          const color = paint(((column + (sampleX + 0.5) / SAMPLES) * 32) / size, ((row + (sampleY + 0.5) / SAMPLES) * 32) / size, maskable);
          if (color === null) continue;
          for (let channel = 0; channel < 3; channel += 1) sum[channel] += color[channel];
          sum[3] += 255;
        }
      }
      const covered = sum[3] / 255;
      const at = row * rowBytes + 1 + column * 4;
      for (let channel = 0; channel < 3; channel += 1) rows[at + channel] = covered === 0 ? 0 : Math.round(sum[channel] / covered);
      rows[at + 3] = Math.round(sum[3] / (SAMPLES * SAMPLES));
    }
  }
  return rows;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let value = index;
  for (let bit = 0; bit < 8; bit += 1) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A PNG file: 8-bit RGBA, not interlaced. */
export function encodePng(size, rows) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 6, 0, 0, 0], 8);
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", zlib.deflateSync(rows, { level: 9 })), chunk("IEND", Buffer.alloc(0))]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = path.dirname(fileURLToPath(import.meta.url));
  for (const icon of ICONS) {
    fs.writeFileSync(path.join(dir, icon.file), encodePng(icon.size, iconRows(icon.size, icon.maskable)));
    console.log(`wrote static/${icon.file}`);
  }
}
