/**
 * The pipeline file: its one typed, versioned schema and its validation. A later feature adds
 * its keys here (and to the table in docs/pipeline.md), nowhere else.
 *
 * ```yaml
 * version: 1                                   # optional; the only version so far
 * name: seed
 * object: examples/tail-call/tail_call.bpf.o   # or objects: { dispatch: a.bpf.o, stages: b.bpf.o }
 * entry: main_prog                             # with several objects: OBJECT:PROGRAM
 * slots:
 *   prog_array:                                # with several objects: OBJECT:MAP
 *     0: port8080_prog                         # a program, or OBJECT:PROGRAM of another object
 * globals:                                     # const volatile (.rodata) values set before load
 *   drop_port: 53                              # with several objects: OBJECT:VARIABLE
 * attach:                                      # the kernel only
 *   iface: veth0
 *   mode: auto                                 # auto | native | generic | offload
 *   hook: xdp                                  # xdp (default) | tc-ingress | tc-egress
 *   tc-mode: auto                              # tc hooks: auto (default) | tcx | filter
 *   netns: NAME                                # the interface's network namespace
 * pin: /sys/fs/bpf/tsbpf/seed                  # default /sys/fs/bpf/tsbpf/<name>
 * stats: true                                  # count runs, verdicts and tail-call misses
 * events:                                      # ring buffers / perf event arrays attach prints
 *   rb: event                                  # map: its record struct (~ for raw bytes)
 * state: [flows]                               # maps an upgrade carries over (OBJECT:MAP with several)
 * ```
 */
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { PipelineError } from "../errors.js";

/** The schema versions this tsbpf reads. */
export const PIPELINE_VERSIONS = [1] as const;

/** Where a pipeline's programs attach (the kernel only). */
export interface PipelineAttach {
  iface: string;
  mode: "auto" | "native" | "generic" | "offload";
  /** The network namespace (`ip netns` name) the interface lives in. */
  netns: string | undefined;
  /** Where on the interface the entry runs; absent means xdp. */
  hook?: "xdp" | "tc-ingress" | "tc-egress";
  /**
   * tc hooks: how the entry is attached, a tcx link or a netlink cls_bpf filter (`tc-mode:`);
   * absent means auto (tcx where the kernel has it).
   */
  tcMode?: "auto" | "tcx" | "filter";
}

/** A name in the file that may be qualified by an object's alias (`stages:port22_prog`). */
export interface QualifiedName {
  /** The alias, when the file gave one. */
  object: string | undefined;
  name: string;
  /** The field the name came from, for messages. */
  field: string;
}

/** A validated pipeline file, names still as written (resolved against the objects later). */
export interface PipelineDefinition {
  version: 1;
  name: string;
  /** Object files by alias, as written (relative to the file). `object:` gives the alias `main`. */
  objects: Record<string, string>;
  entry: QualifiedName;
  /** Slots to fill, by prog array. */
  slots: { map: QualifiedName; key: number; program: QualifiedName }[];
  /** `.rodata` variables to set before load. */
  globals: { variable: QualifiedName; value: unknown }[];
  attach: PipelineAttach | undefined;
  pin: string | undefined;
  /** Load with stats instrumentation (runs, verdicts, tail-call calls and misses per key). */
  stats: boolean;
  /** Ring buffers and perf event arrays whose records `attach` prints, each with its C struct, if named. */
  events: { map: QualifiedName; type: string | undefined }[];
  /** Maps whose contents an upgrade (`up` of a changed file) carries over to the new version. */
  state: QualifiedName[];
}

/** No '.': the name is a bpffs directory by default, and bpffs refuses dots in names (EPERM). */
const NAME = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;
const TOP_KEYS = [
  "version",
  "name",
  "object",
  "objects",
  "entry",
  "slots",
  "globals",
  "attach",
  "pin",
  "stats",
  "events",
  "state",
];
const ATTACH_KEYS = ["iface", "mode", "netns", "hook", "tc-mode"];
const HOOKS = ["xdp", "tc-ingress", "tc-egress"] as const;
const TC_MODES = ["auto", "tcx", "filter"] as const;
const MODES = ["auto", "native", "generic", "offload"] as const;

/** Reads a pipeline file's text; every problem is a {@link PipelineError} naming `file` and the field. */
export function parsePipelineDefinition(text: string, file: string): PipelineDefinition {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first !== undefined) {
    const at = lines.linePos(first.pos[0]);
    const e = new PipelineError(
      `${file}:${at.line}:${at.col}: not valid YAML: ${first.message.split("\n")[0]}`,
      {
        hint: "a pipeline file is a YAML mapping: name, object, entry, slots, attach (see docs/pipeline.md)",
      },
    );
    e.line = at.line;
    throw e;
  }
  return new Reader(doc, lines, file).definition();
}

/** Walks the document with the path of each field, so every error names where it is. */
class Reader {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
  ) {}

  definition(): PipelineDefinition {
    const top = this.mapping([], "a mapping of name, object, entry, slots...");
    this.onlyKeys([], top, TOP_KEYS);
    const version = top.version === undefined ? 1 : top.version;
    if (version !== 1) {
      this.fail(
        ["version"],
        `version ${JSON.stringify(version)} is not one this tsbpf reads (${PIPELINE_VERSIONS.join(", ")})`,
      );
    }
    const name = this.string(["name"], top.name, "the pipeline's name");
    if (!NAME.test(name))
      this.fail(
        ["name"],
        `'${name}' is not a name: use letters, digits, '_' and '-'`,
        name.includes(".")
          ? "the name is the default pin directory, and bpffs refuses '.' in names"
          : undefined,
      );
    const objects = this.objects(top);
    const entry = this.qualified(["entry"], top.entry, "the entry program");
    return {
      version: 1,
      name,
      objects,
      entry,
      slots: this.slots(top.slots),
      globals: this.globals(top.globals),
      attach: this.attach(top.attach),
      pin: this.pin(top.pin),
      stats: this.stats(top.stats),
      events: this.events(top.events),
      state: this.state(top.state),
    };
  }

  private pin(raw: unknown): string | undefined {
    if (raw === undefined) return undefined;
    const dir = this.string(["pin"], raw, "a bpffs directory");
    if (!dir.startsWith("/")) {
      this.fail(
        ["pin"],
        `'${dir}' is not an absolute path`,
        "pins live in bpffs, e.g. /sys/fs/bpf/tsbpf/NAME",
      );
    }
    const inBpffs = dir.replace(/^\/sys\/fs\/bpf(\/|$)/, "");
    if (inBpffs !== dir && inBpffs.includes(".")) {
      this.fail(
        ["pin"],
        `'${dir}' has a '.' in a name`,
        "bpffs refuses '.' in names (EPERM): use '_' or '-'",
      );
    }
    return dir.replace(/(.)\/+$/, "$1");
  }

  private stats(v: unknown): boolean {
    if (v === undefined) return false;
    if (typeof v !== "boolean") this.fail(["stats"], `${JSON.stringify(v)} is not true or false`);
    return v;
  }

  private events(raw: unknown): PipelineDefinition["events"] {
    if (raw === undefined) return [];
    const maps = this.mapping(["events"], "a mapping of event map: record struct (~ for bytes)");
    return Object.entries(maps).map(([name, type]) => {
      const path = ["events", name];
      const map = this.qualified(path, name, "a ring buffer or perf event array");
      if (type === null) return { map, type: undefined };
      return { map, type: this.string(path, type, "a struct name (or ~ for raw bytes)") };
    });
  }

  private state(raw: unknown): QualifiedName[] {
    if (raw === undefined) return [];
    if (!Array.isArray(raw)) {
      this.fail(["state"], `${JSON.stringify(raw)} is not a list of map names`, "state: [flows, counters]");
    }
    return (raw as unknown[]).map((m, i) => this.qualified(["state", String(i)], m, "a map name"));
  }

  private objects(top: Record<string, unknown>): Record<string, string> {
    if (top.object !== undefined && top.objects !== undefined) {
      this.fail(["objects"], "give either object: (one) or objects: (several), not both");
    }
    if (top.object !== undefined)
      return { main: this.string(["object"], top.object, "the path of a .bpf.o") };
    if (top.objects === undefined) this.fail([], "missing object: (the path of a .bpf.o) or objects:");
    const raw = this.mapping(["objects"], "a mapping of alias: path");
    const out: Record<string, string> = {};
    for (const [alias, path] of Object.entries(raw)) {
      if (!NAME.test(alias) || alias.includes(".")) {
        this.fail(["objects", alias], `'${alias}' is not an alias: use letters, digits, '_' and '-'`);
      }
      out[alias] = this.string(["objects", alias], path, "the path of a .bpf.o");
    }
    if (Object.keys(out).length === 0) this.fail(["objects"], "names no object");
    return out;
  }

  private slots(raw: unknown): PipelineDefinition["slots"] {
    if (raw === undefined) return [];
    const maps = this.mapping(["slots"], "a mapping of prog array: { key: program }");
    const out: PipelineDefinition["slots"] = [];
    for (const mapName of Object.keys(maps)) {
      const map = this.qualified(["slots", mapName], mapName, "a prog array");
      const byKey = this.mapping(["slots", mapName], "a mapping of slot number: program");
      for (const [key, program] of Object.entries(byKey)) {
        const path = ["slots", mapName, key];
        if (!/^(0|[1-9][0-9]*)$/.test(key) || Number(key) > 0xffffffff) {
          this.fail(path, `slot key '${key}' is not a number: slots are numbered 0, 1, 2...`);
        }
        out.push({ map, key: Number(key), program: this.qualified(path, program, "a program name") });
      }
    }
    return out;
  }

  private globals(raw: unknown): PipelineDefinition["globals"] {
    if (raw === undefined) return [];
    const vars = this.mapping(["globals"], "a mapping of variable: value");
    return Object.entries(vars).map(([name, value]) => {
      const path = ["globals", name];
      if (value === null || (typeof value === "object" && !Array.isArray(value) && !isPlain(value))) {
        this.fail(path, "expected a value (a number, string, list or mapping)");
      }
      return { variable: this.qualified(path, name, "a variable"), value };
    });
  }

  private attach(raw: unknown): PipelineAttach | undefined {
    if (raw === undefined) return undefined;
    const a = this.mapping(["attach"], "a mapping of iface, mode, netns");
    this.onlyKeys(["attach"], a, ATTACH_KEYS);
    const iface = this.string(["attach", "iface"], a.iface, "an interface name");
    const mode =
      a.mode === undefined
        ? "auto"
        : this.string(["attach", "mode"], a.mode, "auto, native, generic or offload");
    if (!(MODES as readonly string[]).includes(mode)) {
      this.fail(["attach", "mode"], `'${mode}' is not a mode: expected ${MODES.join(", ")}`);
    }
    const netns =
      a.netns === undefined
        ? undefined
        : this.string(["attach", "netns"], a.netns, "a network namespace name");
    const tcMode = this.tcMode(a["tc-mode"], a.hook);
    if (a.hook === undefined) return { iface, mode: mode as PipelineAttach["mode"], netns };
    const hook = this.string(["attach", "hook"], a.hook, "xdp, tc-ingress or tc-egress");
    if (!(HOOKS as readonly string[]).includes(hook)) {
      this.fail(["attach", "hook"], `'${hook}' is not a hook: expected ${HOOKS.join(", ")}`);
    }
    return {
      iface,
      mode: mode as PipelineAttach["mode"],
      netns,
      hook: hook as (typeof HOOKS)[number],
      ...(tcMode === undefined ? {} : { tcMode }),
    };
  }

  /** `attach.tc-mode`: one of auto, tcx, filter, and only with a tc hook. */
  private tcMode(raw: unknown, hook: unknown): PipelineAttach["tcMode"] {
    if (raw === undefined) return undefined;
    const path = ["attach", "tc-mode"];
    const m = this.string(path, raw, TC_MODES.join(", "));
    if (!(TC_MODES as readonly string[]).includes(m)) {
      const near = TC_MODES.find((x) => editDistance(x, m) <= 2);
      this.fail(
        path,
        `'${m}' is not a tc mode${near === undefined ? "" : ` (did you mean '${near}'?)`}: expected ${TC_MODES.join(", ")}`,
      );
    }
    if (hook !== "tc-ingress" && hook !== "tc-egress") {
      this.fail(path, "goes with a tc hook (hook: tc-ingress or tc-egress)");
    }
    return m as (typeof TC_MODES)[number];
  }

  /** `name` or `alias:name`; with several objects a bare name is resolved later, if unique. */
  private qualified(path: string[], raw: unknown, what: string): QualifiedName {
    const s = this.string(path, raw, what);
    const m = /^([^:\s]+):([^:\s]+)$/.exec(s);
    if (m !== null) return { object: m[1] as string, name: m[2] as string, field: path.join(".") };
    if (/[\s:]/.test(s) || s === "") this.fail(path, `'${s}' is not ${what} (NAME or OBJECT:NAME)`);
    return { object: undefined, name: s, field: path.join(".") };
  }

  /** The node at `path`, matching keys by their text (`0:` is the number 0 in YAML). */
  private nodeAt(path: string[]): unknown {
    let node: unknown = this.doc.contents;
    for (const k of path) {
      if (!isMap(node)) return undefined;
      node = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === k)?.value;
    }
    return node;
  }

  private mapping(path: string[], what: string): Record<string, unknown> {
    const node = this.nodeAt(path);
    if (!isMap(node)) this.fail(path, `expected ${what}, found ${describeNode(node)}`);
    const out: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const v = pair.value;
      out[key] = isScalar(v) ? v.value : isMap(v) || isSeq(v) ? v.toJSON() : null;
    }
    return out;
  }

  private string(path: string[], v: unknown, what: string): string {
    if (v === undefined) this.fail(path, `missing: expected ${what}`);
    if (typeof v === "number" && path[0] === "slots") return String(v);
    if (typeof v !== "string") this.fail(path, `expected ${what}, found ${describeValue(v)}`);
    return v;
  }

  private onlyKeys(path: string[], m: Record<string, unknown>, allowed: string[]): void {
    for (const k of Object.keys(m)) {
      if (!allowed.includes(k)) {
        const near = allowed.find((a) => editDistance(a, k) <= 2);
        this.fail(
          [...path, k],
          `unknown key '${k}'${near === undefined ? "" : ` (did you mean '${near}'?)`}`,
          `keys here: ${allowed.join(", ")}`,
        );
      }
    }
  }

  private fail(path: string[], message: string, hint?: string): never {
    const field = path.join(".");
    const node = path.length === 0 ? undefined : this.nodeAt(path);
    const start = (node as { range?: [number, number, number] } | undefined)?.range?.[0];
    const line = start === undefined ? undefined : this.lines.linePos(start).line;
    const e = new PipelineError(`${this.file}: ${field === "" ? "" : `${field}: `}${message}`, {
      ...(hint === undefined ? (line === undefined ? {} : { hint: `line ${line}` }) : { hint }),
    });
    e.field = field;
    if (line !== undefined) e.line = line;
    throw e;
  }
}

function isPlain(v: object): boolean {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function describeNode(node: unknown): string {
  if (node === undefined || node === null) return "nothing";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) return describeValue(node.value);
  return "something else";
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return "nothing";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Levenshtein distance, for "did you mean" on short keys. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}
