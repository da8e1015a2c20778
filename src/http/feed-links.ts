// The feeds a page links to (<link rel="alternate">), from the topic it follows live.
import { parseTagSetTopic, parseTopic } from "../realtime/topics.ts";
import { uriComponent } from "../text.ts";

/** The feeds a page offers as <link rel="alternate">, from the topic the page follows live. */
export function feedLinks(liveTopic: string | null | undefined): { href: string; type: string; title: string }[] {
  if (!liveTopic) return [];
  let path: string | null = null;
  let title = "";
  const tags = parseTagSetTopic(liveTopic);
  const parsed = tags ? null : parseTopic(liveTopic);
  if (tags) {
    path = `/feeds/t/${tags.map(uriComponent).join("+")}`;
    title = tags.map((tag) => `#${tag}`).join(" + ");
  } else if (parsed?.kind === "firehose") {
    path = "/feeds/firehose";
    title = "the firehose";
  } else if (parsed?.kind === "tag") {
    path = `/feeds/t/${uriComponent(parsed.tag)}`;
    title = `#${parsed.tag}`;
  } else if (parsed?.kind === "user" || parsed?.kind === "private") {
    path = `/feeds/u/${parsed.username}`;
    title = parsed.username;
  }
  if (path === null) return [];
  return [
    { href: `${path}.atom`, type: "application/atom+xml", title: `${title} (Atom)` },
    { href: `${path}.rss`, type: "application/rss+xml", title: `${title} (RSS)` },
  ];
}
