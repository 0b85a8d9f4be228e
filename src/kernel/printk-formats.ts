/**
 * The bpf_printk format strings a collection's programs can print, found statically
 * (object/printk-sites.ts), so that a reader of the global trace pipe can keep the lines that are
 * ours and drop other programs'.
 */
import type { CollectionSpec, ProgramSpec } from "../object/types.js";
import { printkSitesOf } from "../object/prepared-spec.js";

function cString(data: Uint8Array, off: number): string | undefined {
  if (off < 0 || off >= data.byteLength) return undefined;
  const end = data.indexOf(0, off);
  return new TextDecoder().decode(data.subarray(off, end < 0 ? data.byteLength : end));
}

/** The format of each printk call in `p`, or `undefined` for a call whose format is not a constant. */
export function printkFormatsOf(spec: CollectionSpec, p: ProgramSpec): (string | undefined)[] {
  return printkSitesOf(p).map((site) => {
    const m = site === undefined ? undefined : spec.maps[site.map];
    return site !== undefined && m?.readOnly === true && m.initialData !== undefined
      ? cString(m.initialData, site.offset)
      : undefined;
  });
}

/**
 * A regular expression for the messages a printk format can produce: the literal text exactly,
 * each conversion as any text. `%%` stands for `%`.
 */
export function formatPattern(fmt: string): RegExp {
  let re = "";
  const conv = /%(%|[-+ 0]*\d*(?:ll|l|h|hh)?[diuxXcs]|[-+ 0]*\d*p[a-zA-Z0-9]*)/y;
  let i = 0;
  while (i < fmt.length) {
    if (fmt[i] === "%") {
      conv.lastIndex = i;
      const m = conv.exec(fmt);
      if (m !== null) {
        re += m[1] === "%" ? "%" : "[\\s\\S]*?";
        i += m[0].length;
        continue;
      }
    }
    re += (fmt[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    i++;
  }
  return new RegExp(`^${re}\\n?$`);
}

/**
 * A predicate that says whether a trace message came from one of the collection's formats;
 * `undefined` when some call's format is unknown (then nothing can be filtered safely).
 */
export function ownMessageFilter(spec: CollectionSpec): ((message: string) => boolean) | undefined {
  const patterns: RegExp[] = [];
  for (const p of Object.values(spec.programs)) {
    for (const f of printkFormatsOf(spec, p)) {
      if (f === undefined) return undefined;
      patterns.push(formatPattern(f));
    }
  }
  return (message) => patterns.some((re) => re.test(message));
}
