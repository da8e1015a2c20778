// Test support: a text note (tEXt chunk) written into and read back from a PNG, e.g. what a screenshot shows.
import zlib from "node:zlib";

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Chunks read before giving up on a file that is not a sane PNG. */
const CHUNKS_MAX = 10_000;

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** The PNG with a tEXt chunk `keyword` = `text` right after its header chunk (IHDR). */
export function pngWithText(png: Buffer, keyword: string, text: string): Buffer {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG");
  const headerEnd = 8 + 8 + png.readUInt32BE(8) + 4;
  return Buffer.concat([png.subarray(0, headerEnd), chunk("tEXt", Buffer.from(`${keyword}\0${text}`, "latin1")), png.subarray(headerEnd)]);
}

/** The text of the first tEXt chunk named `keyword`, or null; also the image's size from IHDR. */
export function pngText(png: Buffer, keyword: string): { text: string | null; width: number; height: number } {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG");
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  let offset = 8;
  for (let count = 0; count < CHUNKS_MAX && offset + 8 <= png.length; count += 1) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    if (type === "tEXt") {
      const data = png.toString("latin1", offset + 8, offset + 8 + length);
      const separator = data.indexOf("\0");
      if (data.slice(0, separator) === keyword) return { text: data.slice(separator + 1), width, height };
    }
    if (type === "IEND") break;
    offset += 12 + length;
  }
  return { text: null, width, height };
}
