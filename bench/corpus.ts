// Realistic, seeded bookmark fields for the benches: titles, URLs, tags and descriptions of real-world shape.
import type { BookmarkFields } from "../src/events.ts";
import { below, chance, mulberry32, pick, type Random } from "../src/simulator/random.ts";

const WORDS = (
  "rust web server async memory database postgres sqlite index query latency throughput cache design review " +
  "python compiler type system release notes security patch browser engine layout graphics shader linux kernel " +
  "scheduler network protocol stream parser benchmark climate ocean science study galaxy telescope vaccine " +
  "history culture museum music album film review interview startup funding market economy energy battery solar " +
  "open source license community guide tutorial introduction deep dive lessons learned postmortem outage scaling"
).split(" ");

const DOMAINS = [
  "github.com", "news.ycombinator.com", "en.wikipedia.org", "www.nytimes.com", "arstechnica.com", "lwn.net",
  "blog.rust-lang.org", "www.nature.com", "www.theguardian.com", "medium.com", "dev.to", "stackoverflow.com",
  "www.bbc.co.uk", "www.quantamagazine.org", "jvns.ca", "danluu.com", "martinfowler.com", "www.youtube.com",
];

/** About 600 tags with a few very common ones, as tag clouds look in practice. */
const TAGS: string[] = [
  ...["programming", "rust", "javascript", "python", "science", "news", "culture", "design", "security", "linux"],
  ...Array.from({ length: 590 }, (_, index) => `${WORDS[index % WORDS.length]}-${Math.floor(index / WORDS.length)}`),
];

function sentence(random: Random, wordsMin: number, wordsMax: number): string {
  const count = wordsMin + below(random, wordsMax - wordsMin + 1);
  const words: string[] = [];
  for (let index = 0; index < count; index += 1) words.push(pick(random, WORDS));
  const text = words.join(" ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Common tags often, rare ones sometimes: a skewed pick. */
function tag(random: Random): string {
  const skewed = Math.floor(TAGS.length * random() * random() * random());
  return TAGS[skewed]!;
}

/**
 * The `index`-th bookmark of a seeded corpus: a 4–12 word title, a URL of 50–110 characters on a
 * common domain, 1–4 tags, a description on about a third of them, about 10 % private. Unique URL
 * per index (the index is in the path).
 */
export function corpusBookmark(random: Random, index: number): BookmarkFields {
  const title = sentence(random, 4, 12);
  const slug = title.toLowerCase().split(" ").slice(0, 6).join("-");
  const tags = new Set<string>();
  const tagCount = 1 + below(random, 4);
  while (tags.size < tagCount) tags.add(tag(random));
  return {
    title,
    url: `https://${pick(random, DOMAINS)}/${pick(random, WORDS)}/${index.toString(36)}/${slug}`,
    description: chance(random, 0.35) ? sentence(random, 8, 30) + "." : "",
    public: !chance(random, 0.1),
    tags: [...tags],
  };
}

/** A seeded stream of corpus bookmarks. */
export function corpus(seed: number): (index: number) => BookmarkFields {
  const random = mulberry32(seed);
  return (index) => corpusBookmark(random, index);
}

/** The bookmark JSON body the API takes, with a marker in the title so subscribers can tell events apart. */
export function bookmarkRequestBody(fields: BookmarkFields, marker: string): string {
  return JSON.stringify({ bookmark: { ...fields, title: `${fields.title} ${marker}`, public: true } });
}
