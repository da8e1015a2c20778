// Test support: the forms of one URL that must count as one bookmark (urlKey), shared by the key's unit test and the duplicate checks of every path.

/** Every variant the key must treat as one URL, each beside the plain form. */
export const SAME_URL_VARIANTS: readonly (readonly [string, string])[] = [
  ["https://example.com", "https://example.com/"],
  ["HTTPS://EXAMPLE.COM/", "https://example.com/"],
  ["https://Example.Com/Path", "https://example.com/Path"],
  ["https://example.com:443/", "https://example.com/"],
  ["http://example.com:80/a", "http://example.com/a"],
  ["https://www.example.com/", "https://example.com/"],
  ["https://WWW.example.com", "https://example.com/"],
  ["https://example.com/#top", "https://example.com/"],
  ["https://example.com/a?x=1#frag", "https://example.com/a?x=1"],
  ["https://example.com/?utm_source=x&utm_medium=mail", "https://example.com/"],
  ["https://example.com/?UTM_Campaign=y", "https://example.com/"],
  ["https://example.com/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4", "https://example.com/a"],
  ["https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"],
  ["https://www.example.com/?utm_source=x#top", "https://example.com/"],
  ["  https://example.com/a  ", "https://example.com/a"],
  ["https://example.com?", "https://example.com/"],
];

/** Each variant pair on a host of its own (case<N>.example), so the cases never match each other. */
export function variantCases(prefix = "case"): { saved: string; variant: string }[] {
  return SAME_URL_VARIANTS.map(([variant, plain], index) => {
    const host = (url: string) => url.replace(/example\.com/i, `${prefix}${index}.example`);
    return { saved: host(plain), variant: host(variant) };
  });
}
