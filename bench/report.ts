// The bench's output: figures with their ceilings and targets, the JSON file, the markdown table, the SVG chart.
import fs from "node:fs";
import path from "node:path";
import type { MicroResult } from "./micro.ts";

/** A ratio to the ceiling at least this; or the value itself at least / at most this. */
export type Target = { kind: "ratio-min"; value: number } | { kind: "value-min"; value: number } | { kind: "value-max"; value: number };

export interface Figure {
  id: string;
  name: string;
  unit: string;
  /** null when the figure was skipped; `note` says why. */
  value: number | null;
  ceiling: number | null;
  ceilingName: string | null;
  /** value / ceiling (for latencies, ceiling / value: higher is better either way). */
  ratio: number | null;
  target: Target | null;
  pass: boolean | null;
  note: string | null;
  details: Record<string, unknown>;
}

export interface BenchResults {
  version: 1;
  mode: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAverage: number[]; loadClient: string; uwsNative: boolean | null };
  micro: MicroResult[];
  figures: Figure[];
}

export function judge(figure: Omit<Figure, "pass">): Figure {
  const { target, value, ratio } = figure;
  let pass: boolean | null = null;
  if (target && value !== null) {
    if (target.kind === "ratio-min") pass = ratio === null ? null : ratio >= target.value;
    else if (target.kind === "value-min") pass = value >= target.value;
    else pass = value <= target.value;
  }
  return { ...figure, pass };
}

export function skipped(id: string, name: string, unit: string, target: Target | null, note: string): Figure {
  return { id, name, unit, value: null, ceiling: null, ceilingName: null, ratio: null, target, pass: null, note, details: {} };
}

function number(value: number | null, unit = ""): string {
  if (value === null || !Number.isFinite(value)) return "—";
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toLocaleString("en", { maximumFractionDigits: digits, minimumFractionDigits: 0 })}${unit ? ` ${unit}` : ""}`;
}

function targetText(target: Target | null, unit: string): string {
  if (!target) return "—";
  if (target.kind === "ratio-min") return `≥ ${Math.round(target.value * 100)} %`;
  return `${target.kind === "value-min" ? "≥" : "≤"} ${number(target.value, unit)}`;
}

function resultText(figure: Figure): string {
  if (figure.value === null) return "skipped";
  return figure.pass === null ? "info" : figure.pass ? "pass" : "FAIL";
}

export function markdownTable(results: BenchResults): string {
  const rows = results.figures.map((figure) =>
    [
      figure.name,
      number(figure.value, figure.unit),
      figure.ceiling === null ? "—" : `${number(figure.ceiling, figure.unit)}${figure.ceilingName ? ` (${figure.ceilingName})` : ""}`,
      figure.ratio === null ? "—" : `${(figure.ratio * 100).toFixed(0)} %`,
      targetText(figure.target, figure.unit),
      resultText(figure) + (figure.note ? ` — ${figure.note.replace(/\s+/g, " ").replace(/\|/g, "\\|")}` : ""),
    ].join(" | "),
  );
  const micro = results.micro.map((task) => `${task.name} | ${number(task.opsPerSecond, "ops/s")} | ${number(task.meanNs, "ns")} | ${number(task.p99Ns, "ns")}`);
  return [
    `Nasty bench (${results.mode}) — ${results.startedAt}, ${results.machine.cpus} × ${results.machine.cpuModel}, node ${results.machine.node}, load from ${results.machine.loadClient}, load average ${results.machine.loadAverage.map((load) => load.toFixed(2)).join(" ")}`,
    "",
    "| figure | value | ceiling | ratio | target | result |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((row) => `| ${row} |`),
    "",
    "| micro-benchmark | throughput | mean | p99 |",
    "| --- | --- | --- | --- |",
    ...micro.map((row) => `| ${row} |`),
  ].join("\n");
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (character) => `&#${character.charCodeAt(0)};`);
}

const CHART_WIDTH = 1200;
const LABEL_WIDTH = 400;
const PLOT_WIDTH = 400;
/** Bars past this many times their ceiling or target are cut at the edge (their caption says how far). */
const SCALE_MAX = 2;
const BAR_HEIGHT = 22;
const ROW_HEIGHT = 34;

/**
 * How far a figure is toward its goal: its ratio to the ceiling when the target is a ratio, its
 * value against the target when the target is absolute (at least / at most). Figures without a
 * target (latencies, search) stay in the table only.
 */
function score(figure: Figure): { score: number; goal: number; caption: string } | null {
  const { target, value, ratio } = figure;
  if (value === null || target === null) return null;
  if (target.kind === "ratio-min") return ratio === null ? null : { score: ratio, goal: target.value, caption: `${(ratio * 100).toFixed(0)} % of ${figure.ceilingName ?? "ceiling"}` };
  const caption = `${number(value, figure.unit)}, target ${targetText(target, figure.unit)}`;
  return { score: target.kind === "value-min" ? value / target.value : target.value / value, goal: 1, caption };
}

/** A one-page bar chart: each figure's ratio to its ceiling (or to its absolute target), with the target marked. */
export function svgChart(results: BenchResults): string {
  const bars = results.figures.flatMap((figure) => {
    const scored = score(figure);
    return scored ? [{ figure, ...scored }] : [];
  });
  const scale = Math.max(1.2, ...bars.map((bar) => Math.min(bar.score, SCALE_MAX)));
  const x = (value: number) => LABEL_WIDTH + (Math.min(value, scale) / scale) * PLOT_WIDTH;
  const top = 70;
  const height = top + bars.length * ROW_HEIGHT + 50;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${CHART_WIDTH}" height="${height}" viewBox="0 0 ${CHART_WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="20" y="28" font-size="18" font-weight="600">Nasty bench (${escapeXml(results.mode)}): each figure as a ratio to its ceiling (or to its absolute target)</text>`,
    `<text x="20" y="50" fill="#555">${escapeXml(results.startedAt)} · ${results.machine.cpus} cores · node ${escapeXml(results.machine.node)} · tick = target · green pass, red fail</text>`,
  ];
  for (const tick of [0, 0.5, 1]) {
    parts.push(`<line x1="${x(tick)}" y1="${top - 8}" x2="${x(tick)}" y2="${top + bars.length * ROW_HEIGHT}" stroke="#ddd"/>`, `<text x="${x(tick)}" y="${top + bars.length * ROW_HEIGHT + 18}" text-anchor="middle" fill="#777">${tick * 100} %</text>`);
  }
  bars.forEach((bar, index) => {
    const y = top + index * ROW_HEIGHT;
    const color = bar.figure.pass ? "#16a34a" : "#dc2626";
    const width = Math.max(1, x(bar.score) - LABEL_WIDTH);
    parts.push(
      `<text x="${LABEL_WIDTH - 10}" y="${y + BAR_HEIGHT / 2 + 4}" text-anchor="end">${escapeXml(bar.figure.name)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${color}" rx="3"/>`,
      `<text x="${LABEL_WIDTH + PLOT_WIDTH + 16}" y="${y + BAR_HEIGHT / 2 + 4}" fill="#333">${escapeXml(bar.caption)}</text>`,
    );
    parts.push(`<line x1="${x(bar.goal)}" y1="${y - 3}" x2="${x(bar.goal)}" y2="${y + BAR_HEIGHT + 3}" stroke="#111" stroke-width="2"/>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** Writes `<dir>/<timestamp>.json` and `<dir>/latest.svg`; returns the JSON path. */
export function writeResults(dir: string, results: BenchResults): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${results.startedAt.replace(/[:.]/g, "-")}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
  fs.writeFileSync(path.join(dir, "latest.svg"), svgChart(results));
  return file;
}

/** One line saying which step runs: rewritten in place on a terminal, one line each otherwise. */
export class Progress {
  private readonly startedMs = performance.now();

  start(label: string): void {
    const line = `[bench ${((performance.now() - this.startedMs) / 1000).toFixed(0).padStart(3)} s] ${label}`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
    else process.stderr.write(`${line}\n`);
  }

  done(): void {
    if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  }
}
