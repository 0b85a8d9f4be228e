import { ParseError } from "../errors.js";

/** A MAC, IPv4 or IPv6 address given as text (`"aa:bb:cc:dd:ee:ff"`, `"10.0.0.1"`, `"2001:db8::1"`) or bytes. */
export type AddressInput = string | Uint8Array | readonly number[];

function bytesOf(a: AddressInput, len: number, what: string): Uint8Array | undefined {
  if (typeof a === "string") return undefined;
  if (a.length !== len) throw new ParseError(`${what}: expected ${len} bytes, got ${a.length}`);
  return Uint8Array.from(a);
}

/** Parses a MAC address (`:` or `-` separated hex pairs), or checks 6 bytes. */
export function parseMac(a: AddressInput): Uint8Array {
  const b = bytesOf(a, 6, "MAC address");
  if (b) return b;
  const parts = (a as string).split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new ParseError(`not a MAC address: ${JSON.stringify(a)}`);
  }
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}

/** Parses dotted-quad IPv4, or checks 4 bytes. */
export function parseIpv4(a: AddressInput): Uint8Array {
  const b = bytesOf(a, 4, "IPv4 address");
  if (b) return b;
  const parts = (a as string).split(".");
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new ParseError(`not an IPv4 address: ${JSON.stringify(a)}`);
  }
  return Uint8Array.from(parts, Number);
}

/** Parses IPv6 text (with `::` and an optional dotted-quad tail), or checks 16 bytes. */
export function parseIpv6(a: AddressInput): Uint8Array {
  const b = bytesOf(a, 16, "IPv6 address");
  if (b) return b;
  const s = a as string;
  const bad = (): ParseError => new ParseError(`not an IPv6 address: ${JSON.stringify(s)}`);
  const halves = s.split("::");
  if (halves.length > 2) throw bad();
  const groups = (h: string): number[] => {
    if (h === "") return [];
    const out: number[] = [];
    const parts = h.split(":");
    parts.forEach((p, i) => {
      if (i === parts.length - 1 && p.includes(".")) {
        const v4 = parseIpv4(p);
        out.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
      } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(Number.parseInt(p, 16));
      else throw bad();
    });
    return out;
  };
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 2 && fill < 1) || (halves.length === 1 && fill !== 0)) throw bad();
  const all = [...head, ...new Array<number>(Math.max(0, fill)).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/** `aa:bb:cc:dd:ee:ff`. */
export function formatMac(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** Dotted quad. */
export function formatIpv4(b: Uint8Array): string {
  return Array.from(b).join(".");
}

/** RFC 5952 text: lower case, leading zeros dropped, the longest run of 2+ zero groups as `::`. */
export function formatIpv6(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}
