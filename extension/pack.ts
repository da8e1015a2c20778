// Packs extension/ into the zip the Chrome Web Store takes: the extension's own files, deflated, with fixed dates so
// the same sources always give the same bytes. `npm run extension:pack [-- --out FILE]`.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";

export const EXTENSION_DIR = import.meta.dirname;

/** Files and folders of extension/ that are tooling, not extension: never packed. */
const NOT_PACKED = new Set(["pack.ts", "tsconfig.json", "build", "README.md"]);
const ENTRIES_MAX = 1000;
/** Past this the format needs Zip64, which this writer does not do; the store takes at most 2 GB anyway. */
const ZIP_BYTES_MAX = 0xffff_ffff;

export interface PackedFile {
  /** Path inside the zip, with forward slashes. */
  name: string;
  data: Buffer;
}

/** Every file of the extension, sorted by path so the zip's order is stable. Dotfiles are left out. */
export function extensionFiles(dir = EXTENSION_DIR): PackedFile[] {
  const files: PackedFile[] = [];
  const walk = (relative: string) => {
    for (const entry of fs.readdirSync(path.join(dir, relative), { withFileTypes: true })) {
      const name = relative === "" ? entry.name : `${relative}/${entry.name}`;
      if (entry.name.startsWith(".") || (relative === "" && NOT_PACKED.has(entry.name))) continue;
      if (entry.isDirectory()) walk(name);
      else if (entry.isFile()) files.push({ name, data: fs.readFileSync(path.join(dir, name)) });
      if (files.length > ENTRIES_MAX) throw new Error(`more than ${ENTRIES_MAX} files under ${dir}; is something stray in there?`);
    }
  };
  walk("");
  return files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

interface Manifest {
  name?: unknown;
  version?: unknown;
  manifest_version?: unknown;
}

/** Every path the manifest points at, so a missing icon or page stops the pack instead of the store review. */
function referencedPaths(manifest: Record<string, any>): string[] {
  const paths: string[] = [];
  const addAll = (value: unknown) => {
    if (typeof value === "string") paths.push(value);
    else if (value && typeof value === "object") Object.values(value).forEach(addAll);
  };
  addAll(manifest.icons);
  addAll(manifest.action?.default_icon);
  addAll(manifest.action?.default_popup);
  addAll(manifest.options_ui?.page);
  addAll(manifest.background?.service_worker);
  return paths;
}

/** Reads and checks the manifest among `files`; throws naming the problem. */
export function checkManifest(files: PackedFile[]): { name: string; version: string } {
  const file = files.find((candidate) => candidate.name === "manifest.json");
  if (!file) throw new Error("the extension has no manifest.json");
  let manifest: Manifest & Record<string, any>;
  try {
    manifest = JSON.parse(file.data.toString("utf8"));
  } catch (error) {
    throw new Error(`manifest.json is not valid JSON: ${(error as Error).message}`);
  }
  if (manifest.manifest_version !== 3) throw new Error(`manifest.json must say "manifest_version": 3, not ${JSON.stringify(manifest.manifest_version)}`);
  if (typeof manifest.name !== "string" || manifest.name === "") throw new Error("manifest.json has no name");
  if (typeof manifest.version !== "string" || !/^\d+(\.\d+){0,3}$/.test(manifest.version)) throw new Error(`manifest.json's version must be 1 to 4 dot-separated numbers, not ${JSON.stringify(manifest.version)}`);
  const names = new Set(files.map((candidate) => candidate.name));
  const missing = referencedPaths(manifest).filter((reference) => !names.has(reference));
  if (missing.length > 0) throw new Error(`manifest.json refers to files that are not there: ${missing.join(", ")}`);
  return { name: manifest.name, version: manifest.version };
}

/** 1980-01-01 00:00, the earliest DOS date: fixed so packing is reproducible. */
const DOS_TIME = 0;
const DOS_DATE = (0 << 9) | (1 << 5) | 1;
const VERSION_NEEDED = 20;
const VERSION_MADE_BY_UNIX = (3 << 8) | VERSION_NEEDED;
const FLAG_UTF8_NAMES = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATED = 8;
const REGULAR_FILE_0644 = (0o100644 << 16) >>> 0;

interface EntryFields {
  method: number;
  crc: number;
  packedBytes: number;
  bytes: number;
  nameBytes: number;
}

/**
 * The run of fields a local header and a central directory header share, in the same order:
 * version needed, flags, method, time, date, CRC-32, sizes, name length, extra length (0).
 */
function writeEntryFields(header: Buffer, at: number, entry: EntryFields): void {
  header.writeUInt16LE(VERSION_NEEDED, at);
  header.writeUInt16LE(FLAG_UTF8_NAMES, at + 2);
  header.writeUInt16LE(entry.method, at + 4);
  header.writeUInt16LE(DOS_TIME, at + 6);
  header.writeUInt16LE(DOS_DATE, at + 8);
  header.writeUInt32LE(entry.crc, at + 10);
  header.writeUInt32LE(entry.packedBytes, at + 14);
  header.writeUInt32LE(entry.bytes, at + 18);
  header.writeUInt16LE(entry.nameBytes, at + 22);
  header.writeUInt16LE(0, at + 24);
}

/**
 * Writes a zip (PKWARE APPNOTE 4.3: local headers, central directory, end record) of `files`.
 * Each file is deflated, or stored when deflating does not make it smaller (PNGs).
 */
export function zip(files: PackedFile[]): Buffer {
  if (files.length > ENTRIES_MAX) throw new Error(`a zip of more than ${ENTRIES_MAX} files`);
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const file of files) {
    const name = Buffer.from(file.name, "utf8");
    const deflated = zlib.deflateRawSync(file.data, { level: 9 });
    const stored = deflated.length >= file.data.length;
    const body = stored ? file.data : deflated;
    const crc = zlib.crc32(file.data);
    const entry: EntryFields = { method: stored ? METHOD_STORED : METHOD_DEFLATED, crc, packedBytes: body.length, bytes: file.data.length, nameBytes: name.length };
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeEntryFields(local, 4, entry);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(VERSION_MADE_BY_UNIX, 4);
    writeEntryFields(central, 6, entry);
    // comment length, disk number, internal attributes: 0
    central.writeUInt32LE(REGULAR_FILE_0644, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, body);
    centrals.push(central, name);
    offset += local.length + name.length + body.length;
    if (offset > ZIP_BYTES_MAX) throw new Error(`the zip would pass ${ZIP_BYTES_MAX} bytes, which needs Zip64`);
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(files.length, 8);
  end.writeUInt16LE(files.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** Packs the extension into `outFile` (default extension/build/<name>-<version>.zip); answers the path and what went in. */
export function packExtension(options: { dir?: string; outFile?: string } = {}): { file: string; entries: string[]; bytes: number } {
  const files = extensionFiles(options.dir);
  const { name, version } = checkManifest(files);
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  const file = path.resolve(options.outFile ?? path.join(options.dir ?? EXTENSION_DIR, "build", `${slug}-${version}.zip`));
  const bytes = zip(files);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, bytes);
  return { file, entries: files.map((packed) => packed.name), bytes: bytes.length };
}

function main(argv: string[]): void {
  if (!(argv.length === 0 || (argv.length === 2 && argv[0] === "--out" && argv[1] !== ""))) {
    throw new Error(`unexpected arguments '${argv.join(" ")}'; usage: npm run extension:pack [-- --out FILE]`);
  }
  const packed = packExtension({ outFile: argv[1] });
  const shown = path.relative(process.cwd(), packed.file);
  console.log(`[extension] wrote ${shown.startsWith("..") ? packed.file : shown}: ${packed.entries.length} files, ${packed.bytes} bytes`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(`[extension] cannot pack: ${(error as Error).message}`);
    process.exit(1);
  }
}
