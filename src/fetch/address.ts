// Which IP addresses a fetch may connect to: only public unicast ones (the SSRF guard's rule, as one pure function).
import net from "node:net";

/** Why an address is refused, or null when it is public. */
export type AddressRefusal = string | null;

/** IPv4 blocks that are not the public internet: [first octets as a number, prefix length, why]. */
const V4_REFUSED: readonly [string, number, string][] = [
  ["0.0.0.0", 8, "unspecified (this network)"],
  ["10.0.0.0", 8, "private"],
  ["100.64.0.0", 10, "shared (CGNAT)"],
  ["127.0.0.0", 8, "loopback"],
  ["169.254.0.0", 16, "link-local"],
  ["172.16.0.0", 12, "private"],
  ["192.0.0.0", 24, "IETF protocol assignments"],
  ["192.0.2.0", 24, "documentation"],
  ["192.88.99.0", 24, "6to4 relay"],
  ["192.168.0.0", 16, "private"],
  ["198.18.0.0", 15, "benchmarking"],
  ["198.51.100.0", 24, "documentation"],
  ["203.0.113.0", 24, "documentation"],
  ["224.0.0.0", 4, "multicast"],
  ["240.0.0.0", 4, "reserved (or broadcast)"],
];

function v4Number(address: string): number {
  return address.split(".").reduce((value, octet) => value * 256 + Number(octet), 0);
}

const V4_BLOCKS = V4_REFUSED.map(([base, bits, why]) => ({ base: v4Number(base), size: 2 ** (32 - bits), why }));

function refuseV4(address: string): AddressRefusal {
  const value = v4Number(address);
  for (const block of V4_BLOCKS) if (value >= block.base && value < block.base + block.size) return block.why;
  return null;
}

/** The eight 16-bit groups of an IPv6 address (net.isIPv6 said it is one; a dotted IPv4 tail is two groups). */
function v6Groups(address: string): number[] {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const value = v4Number(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(value >>> 16).toString(16)}:${(value & 0xffff).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((group) => parseInt(group, 16)));
  const front = parse(head);
  const back = tail === undefined ? [] : parse(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

function refuseV6(address: string): AddressRefusal {
  const groups = v6Groups(address);
  const [first = 0, second = 0] = groups;
  if (groups.every((group) => group === 0)) return "unspecified";
  if (groups.slice(0, 7).every((group) => group === 0) && groups[7] === 1) return "loopback";
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) return "IPv4-mapped";
  if ((first & 0xfe00) === 0xfc00) return "unique local (ULA)";
  if ((first & 0xffc0) === 0xfe80) return "link-local";
  if ((first & 0xffc0) === 0xfec0) return "site-local";
  if ((first & 0xff00) === 0xff00) return "multicast";
  // Only 2000::/3 is global unicast; inside it, a few blocks are not the public internet.
  if ((first & 0xe000) !== 0x2000) return "not global unicast (IPv4-compatible, NAT64, discard or reserved)";
  if (first === 0x2001 && second < 0x0200) return "IETF protocol assignments (Teredo, benchmarking, ORCHID)";
  if (first === 0x2001 && second === 0x0db8) return "documentation";
  if (first === 0x2002) return "6to4";
  if ((first & 0xfff0) === 0x3ff0) return "documentation";
  return null;
}

/**
 * Null when `address` (an IPv4 or IPv6 literal, an IPv6 zone allowed) is a public unicast address
 * a fetch may connect to; otherwise why not (loopback, private, link-local, multicast, CGNAT,
 * unspecified, ULA, IPv4-mapped, documentation, reserved, or not an address at all).
 */
export function addressRefusal(address: string): AddressRefusal {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  switch (net.isIP(bare)) {
    case 4:
      return refuseV4(bare);
    case 6:
      return refuseV6(bare);
    default:
      return "not an IP address";
  }
}
