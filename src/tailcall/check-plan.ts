/**
 * `check`: what a pipeline will do with its tail calls, found before anything is loaded. Every
 * tail-call site of every program is set against what the slots hold (the site's key set from
 * the object's dataflow, or unknown), giving the graph of programs and tail calls and the
 * findings a user should see: empty slots, keys past the array, programs nothing runs, chains
 * that loop, tail calls under too much caller stack, programs of the wrong type in a slot, and
 * names that are not there.
 */
import { MapType } from "../abi/index.js";
import {
  type FrameLayout,
  type FrameProblem,
  frameLayout,
  TAIL_CALL_STACK_LIMIT,
  walkFrames,
} from "../object/stack-frames.js";
import type { CollectionSpec, MapSpec, ProgramSpec, TailCallSite } from "../object/types.js";
import type {
  CheckReport,
  Finding,
  FindingCode,
  GraphEdge,
  GraphNode,
  PipelinePlan,
  PlanSlot,
  ProgramRef,
  SourceSite,
} from "./plan.js";
import { sourceSite, tailCallSourceSite } from "./source-site.js";
import { mapsLoadedBy } from "../object/prepared.js";
import { tailCallStackClear } from "../object/prepared-spec.js";

/** A program of the plan, with where it lives and its node name. */
interface Prog {
  index: number;
  object: string;
  spec: ProgramSpec;
  node: string;
}

/** A slot of the plan that names a real prog array: what it holds, if that program exists. */
interface Held {
  slot: PlanSlot;
  target: Prog | undefined;
}

/** A finding about a site, kept until reachability says whether to report it. */
interface Pending {
  prog: Prog;
  finding: Finding;
}

/**
 * Analyses a pipeline plan: the graph of its programs and tail calls, and every finding (see
 * {@link FindingCode}) with its severity and, where there is one, the C source line. Pure: the
 * plan's parsed objects are all it reads.
 *
 * Maps belong to their object, except prog arrays pinned by name (`pinning: by_name`), which
 * are one map across the objects that declare them. Entries are `plan.entries`, or, when none is
 * given (or none of those given exists), every program that no slot holds. A site's findings
 * count only when its program runs (is reachable); `stack-with-tail-calls` concerns every
 * program, since every program of an object is loaded.
 */
export function checkPlan(plan: PipelinePlan): CheckReport {
  const findings: Finding[] = [];
  const progs = programsOf(plan);
  const progByRef = new Map(progs.map((p) => [refKey(p.object, p.spec.name), p]));
  const held = slotsOf(plan, progByRef, findings);
  const entries = entriesOf(plan, progs, progByRef, held, findings);
  const { edges, edgesFrom, pending } = tailCallsOf(plan, progs, held);
  const byNode = new Map(progs.map((p) => [p.node, p]));
  const reached = reachableFrom(entries, edgesFrom, byNode);

  for (const p of progs) {
    findings.push(...stackFindings(p));
    for (const x of pending) if (x.prog === p && reached.has(p)) findings.push(x.finding);
  }
  findings.push(...typeFindings(plan, progs, held, edges));
  findings.push(...unreachableFindings(progs, reached, held));
  findings.push(...cycleFindings(progs, edgesFrom, reached, byNode));

  const nodes: GraphNode[] = progs.map((p) => ({
    name: p.node,
    object: p.object,
    type: p.spec.typeName,
    entry: entries.has(p),
  }));
  return { findings, graph: { nodes, edges } };
}

/** Every program of every object, named `object:program` only where two objects share a name. */
function programsOf(plan: PipelinePlan): Prog[] {
  const owners = new Map<string, number>();
  for (const spec of Object.values(plan.objects)) {
    for (const name of Object.keys(spec.programs)) owners.set(name, (owners.get(name) ?? 0) + 1);
  }
  const progs: Prog[] = [];
  for (const [alias, spec] of Object.entries(plan.objects)) {
    for (const p of Object.values(spec.programs)) {
      const shared = (owners.get(p.name) ?? 0) > 1;
      progs.push({
        index: progs.length,
        object: alias,
        spec: p,
        node: shared ? `${alias}:${p.name}` : p.name,
      });
    }
  }
  return progs;
}

/**
 * The plan's slots by map identity and key. A slot naming an object, map or program that is not
 * there, or a key past the array, is a finding; a slot whose program is missing stays (without a
 * target), so the site calling it is not also reported as calling an empty slot.
 */
function slotsOf(
  plan: PipelinePlan,
  progByRef: ReadonlyMap<string, Prog>,
  findings: Finding[],
): Map<string, Map<number, Held>> {
  const held = new Map<string, Map<number, Held>>();
  for (const slot of plan.slots) {
    const where = slotLabel(slot, plan);
    const spec = plan.objects[slot.object];
    if (spec === undefined) {
      findings.push(missing(`${where}: no object '${slot.object}' in the pipeline`, objectList(plan)));
      continue;
    }
    const map = spec.maps[slot.map];
    if (map === undefined || map.type !== MapType.prog_array) {
      const arrays = progArrays(spec);
      const why =
        map === undefined
          ? `no map '${slot.map}'`
          : `map '${slot.map}' is a ${map.typeName}, not a prog_array`;
      findings.push(
        missing(
          `${where}: ${why} in ${spec.file ?? slot.object}`,
          arrays.length > 0 ? `prog arrays there: ${arrays.join(", ")}` : "it has no prog array",
          { map: slot.map, key: slot.key },
        ),
      );
      continue;
    }
    if (slot.key >= map.maxEntries) {
      findings.push(
        finding("error", "key-out-of-range", {
          map: slot.map,
          key: slot.key,
          message: `${where}: slot ${slot.key} is past the end of ${slot.map} (max_entries ${map.maxEntries}): it cannot be filled`,
        }),
      );
      continue;
    }
    const target = progByRef.get(refKey(slot.program.object, slot.program.program));
    if (target === undefined)
      findings.push(missingProgram(where, slot.program, plan, { map: slot.map, key: slot.key }));
    const id = mapIdentity(slot.object, map);
    const slots = held.get(id) ?? new Map<number, Held>();
    slots.set(slot.key, { slot, target });
    held.set(id, slots);
  }
  return held;
}

/** The plan's entries; when it names none that exist, every program no slot holds. */
function entriesOf(
  plan: PipelinePlan,
  progs: readonly Prog[],
  progByRef: ReadonlyMap<string, Prog>,
  held: ReadonlyMap<string, ReadonlyMap<number, Held>>,
  findings: Finding[],
): Set<Prog> {
  const entries = new Set<Prog>();
  for (const ref of plan.entries) {
    const p = progByRef.get(refKey(ref.object, ref.program));
    if (p === undefined) findings.push(missingProgram(`entry '${ref.program}'`, ref, plan, {}));
    else entries.add(p);
  }
  if (entries.size === 0) {
    const inSlots = new Set<Prog>();
    for (const slots of held.values()) for (const h of slots.values()) if (h.target) inSlots.add(h.target);
    for (const p of progs) if (!inSlots.has(p)) entries.add(p);
  }
  return entries;
}

/**
 * The graph's edges: each site to each slot it can call (`to: null` where the slot is empty or
 * past the array; a key that is not a constant reaches every filled slot, and falls through
 * otherwise), with the findings of each site, reported later if its program runs at all.
 */
function tailCallsOf(
  plan: PipelinePlan,
  progs: readonly Prog[],
  held: ReadonlyMap<string, ReadonlyMap<number, Held>>,
): { edges: GraphEdge[]; edgesFrom: GraphEdge[][]; pending: Pending[] } {
  const edges: GraphEdge[] = [];
  const edgesFrom = progs.map((): GraphEdge[] => []);
  const pending: Pending[] = [];
  for (const p of progs) {
    const spec = plan.objects[p.object] as CollectionSpec;
    for (const site of p.spec.tailCalls) {
      const map = site.map === undefined ? undefined : spec.maps[site.map];
      if (map === undefined || map.type !== MapType.prog_array) continue;
      const at = tailCallSourceSite(site);
      const slots = held.get(mapIdentity(p.object, map)) ?? new Map<number, Held>();
      const add = (to: Prog | undefined, key: number | null): void => {
        const e: GraphEdge = { from: p.node, to: to?.node ?? null, map: map.name, key, site: at };
        edges.push(e);
        edgesFrom[p.index]?.push(e);
      };
      const note = (code: FindingCode, key: number | undefined, message: string): void => {
        pending.push({
          prog: p,
          finding: finding("warning", code, { program: p.node, map: map.name, key, site: at, message }),
        });
      };
      if (site.keys === undefined) {
        const filled = [...slots.entries()].sort((a, b) => a[0] - b[0]);
        for (const [k, h] of filled) if (h.target) add(h.target, k);
        add(undefined, null);
        if (filled.length === 0) {
          note("empty-slot", undefined, `${map.name} is empty: packets to this site fall through`);
        }
        continue;
      }
      for (const k of site.keys) {
        if (k >= map.maxEntries) {
          add(undefined, k);
          note(
            "key-out-of-range",
            k,
            `${map.name}[${k}] is past max_entries ${map.maxEntries}: packets to this site always fall through`,
          );
          continue;
        }
        const h = slots.get(k);
        add(h?.target, k);
        if (h === undefined)
          note("empty-slot", k, `${map.name}[${k}] is empty: packets to this site fall through`);
      }
    }
  }
  return { edges, edgesFrom, pending };
}

/** The programs the entries reach through filled slots (the entries included). */
function reachableFrom(
  entries: ReadonlySet<Prog>,
  edgesFrom: readonly GraphEdge[][],
  byNode: ReadonlyMap<string, Prog>,
): Set<Prog> {
  const reached = new Set<Prog>(entries);
  const queue = [...entries];
  while (queue.length > 0) {
    const p = queue.shift() as Prog;
    for (const e of edgesFrom[p.index] ?? []) {
      const t = e.to === null ? undefined : byNode.get(e.to);
      if (t !== undefined && !reached.has(t)) {
        reached.add(t);
        queue.push(t);
      }
    }
  }
  return reached;
}

/** `unreachable-program`, at the program's first source line, saying which slots hold it. */
function unreachableFindings(
  progs: readonly Prog[],
  reached: ReadonlySet<Prog>,
  held: ReadonlyMap<string, ReadonlyMap<number, Held>>,
): Finding[] {
  return progs
    .filter((p) => !reached.has(p))
    .map((p) => {
      const holders = [...held.values()].flatMap((slots) =>
        [...slots.values()].filter((h) => h.target === p).map((h) => `${h.slot.map}[${h.slot.key}]`),
      );
      const why =
        holders.length > 0
          ? `it sits in ${holders.join(", ")}, and nothing that runs calls ${holders.length > 1 ? "those slots" : "that slot"}`
          : "it is not an entry and no slot holds it";
      return finding("warning", "unreachable-program", {
        program: p.node,
        site: sourceSite(p.spec, 0),
        message: `${p.node} never runs: ${why}`,
      });
    });
}

function refKey(object: string, program: string): string {
  return `${object}\0${program}`;
}

/** One map across objects when pinned by name; otherwise the object's own. */
function mapIdentity(object: string, map: MapSpec): string {
  return map.pinning === "by_name" ? `pinned\0${map.name}` : `${object}\0${map.name}`;
}

function progArrays(spec: CollectionSpec): string[] {
  return Object.values(spec.maps)
    .filter((m) => m.type === MapType.prog_array)
    .map((m) => m.name);
}

function objectList(plan: PipelinePlan): string {
  return `objects: ${Object.keys(plan.objects).join(", ")}`;
}

/** How the user wrote a slot, for messages. */
function slotLabel(slot: PlanSlot, plan: PipelinePlan): string {
  const single = Object.keys(plan.objects).length === 1;
  const prog =
    single || slot.program.object === slot.object
      ? slot.program.program
      : `${slot.program.object}:${slot.program.program}`;
  const map = single ? slot.map : `${slot.object}:${slot.map}`;
  switch (slot.origin) {
    case "user":
      return `--tail ${map}:${slot.key}=${prog}`;
    case "static":
      return `.values of ${map} [${slot.key}]`;
    case "pipeline":
      return `slot ${map}[${slot.key}]`;
  }
}

function finding(
  severity: Finding["severity"],
  code: FindingCode,
  f: { program?: string; map?: string; key?: number | undefined; site?: SourceSite; message: string },
): Finding {
  return {
    severity,
    code,
    program: f.program,
    map: f.map,
    key: f.key,
    site: f.site,
    message: f.message,
  };
}

function missing(message: string, hint: string, at: { map?: string; key?: number } = {}): Finding {
  return finding("error", "missing-program", { ...at, message: `${message} (${hint})` });
}

function missingProgram(
  where: string,
  ref: ProgramRef,
  plan: PipelinePlan,
  at: { map?: string; key?: number },
): Finding {
  const spec = plan.objects[ref.object];
  if (spec === undefined)
    return missing(`${where}: no object '${ref.object}' in the pipeline`, objectList(plan), at);
  const names = Object.keys(spec.programs);
  return missing(
    `${where}: no program '${ref.program}' in ${spec.file ?? ref.object}`,
    names.length > 0 ? `it has ${names.join(", ")}` : "it has no programs",
    at,
  );
}

/** The name of subprogram `k` of a program, for call paths. */
function functionName(p: ProgramSpec, layout: FrameLayout, k: number): string {
  const start = layout.subprograms[k] as number;
  return (
    p.functions.find((f) => f.start === start)?.name ?? (start === 0 ? p.name : `subprogram at insn ${start}`)
  );
}

/**
 * `stack-with-tail-calls`: the verifier's walk over the call chains (the VM's validator runs the
 * same one), one finding per tail-calling subprogram, naming its call path with the most caller
 * stack.
 */
function stackFindings(p: Prog): Finding[] {
  // A prepared spec's word that the walk finds nothing, asked first: it answers without decoding
  // the instructions (object/prepared-spec.ts; a kernel command checks its plan before it loads).
  if (tailCallStackClear(p.spec)) return [];
  const layout = frameLayout(p.spec.instructions);
  if (layout.tailCalls.every((t, k) => k === 0 || t.length === 0)) return [];
  const worst = new Map<number, FrameProblem & { kind: "tail-call-stack" }>();
  for (const problem of walkFrames(layout).problems) {
    if (problem.kind !== "tail-call-stack") continue;
    const s = problem.path[problem.path.length - 1]?.subprogram as number;
    if ((worst.get(s)?.bytes ?? -1) < problem.bytes) worst.set(s, problem);
  }
  return [...worst]
    .sort((a, b) => a[0] - b[0])
    .map(([k, problem]) => {
      const insn = layout.tailCalls[k]?.[0] as number;
      const site: TailCallSite | undefined = p.spec.tailCalls.find((t) => t.insn === insn);
      const names = problem.path.map((step) => functionName(p.spec, layout, step.subprogram));
      const callers = problem.path
        .slice(0, -1)
        .map((step, i) => `${names[i]} (${step.frame} bytes)`)
        .join(" → ");
      return finding("error", "stack-with-tail-calls", {
        program: p.node,
        ...(site?.map === undefined ? {} : { map: site.map }),
        key: site?.keys?.length === 1 ? site.keys[0] : undefined,
        site: sourceSite(p.spec, insn),
        message:
          `call path ${callers} → ${names[names.length - 1]}: a tail call under ${problem.bytes} bytes of caller ` +
          `stack, ${TAIL_CALL_STACK_LIMIT} or more: the verifier refuses it with ` +
          `"tail_calls are not allowed when call stack of previous frames is ${problem.bytes} bytes"`,
      });
    });
}

/**
 * `prog-type-mismatch`: a prog array takes the type of its owner, the first program of the
 * pipeline that uses it (or, when none does, the first program put in it); the kernel refuses
 * any other type in its slots.
 */
function typeFindings(
  plan: PipelinePlan,
  progs: readonly Prog[],
  held: ReadonlyMap<string, ReadonlyMap<number, Held>>,
  edges: readonly GraphEdge[],
): Finding[] {
  const out: Finding[] = [];
  for (const [id, slots] of held) {
    const users = progs.filter((p) => {
      const spec = plan.objects[p.object] as CollectionSpec;
      return mapsLoadedBy(p.spec, spec.byteOrder === "little").some((name) => {
        const m = spec.maps[name];
        return m !== undefined && mapIdentity(p.object, m) === id;
      });
    });
    const sorted = [...slots.entries()].sort((a, b) => a[0] - b[0]);
    const owner = users[0] ?? sorted.find(([, h]) => h.target)?.[1].target;
    if (owner === undefined) continue;
    const ownerWhy = users[0] === owner ? `${owner.node} uses it` : `${owner.node} is its first program`;
    for (const [k, h] of sorted) {
      const t = h.target;
      if (t === undefined || t.spec.type === owner.spec.type) continue;
      const callers = new Set(users.map((u) => u.node));
      const e = edges.find(
        (x) => x.map === h.slot.map && callers.has(x.from) && (x.key === k || x.key === null),
      );
      out.push(
        finding("error", "prog-type-mismatch", {
          program: t.node,
          map: h.slot.map,
          key: k,
          site: e?.site ?? sourceSite(t.spec, 0),
          message:
            `${h.slot.map}[${k}] holds ${t.node}, a ${t.spec.typeName} program, but ${h.slot.map} belongs to ` +
            `${owner.spec.typeName} programs (${ownerWhy}): the kernel refuses it`,
        }),
      );
    }
  }
  return out;
}

/**
 * `tail-call-cycle`: each group of reachable programs that can tail-call back into itself (a
 * strongly connected component), reported once, at the call that closes the loop.
 */
function cycleFindings(
  progs: readonly Prog[],
  edgesFrom: readonly GraphEdge[][],
  reached: ReadonlySet<Prog>,
  byNode: ReadonlyMap<string, Prog>,
): Finding[] {
  const succ = (p: Prog): [Prog, GraphEdge][] =>
    (edgesFrom[p.index] ?? []).flatMap((e) => {
      const t = e.to === null ? undefined : byNode.get(e.to);
      return t !== undefined && reached.has(t) ? [[t, e] as [Prog, GraphEdge]] : [];
    });
  // Tarjan's strongly connected components.
  const index = new Map<Prog, number>();
  const low = new Map<Prog, number>();
  const stack: Prog[] = [];
  const onStack = new Set<Prog>();
  const components: Prog[][] = [];
  const visit = (v: Prog): void => {
    index.set(v, index.size);
    low.set(v, index.get(v) as number);
    stack.push(v);
    onStack.add(v);
    for (const [w] of succ(v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const c: Prog[] = [];
      for (let w = stack.pop(); w !== undefined; w = w === v ? undefined : stack.pop()) {
        onStack.delete(w);
        c.push(w);
      }
      components.push(c);
    }
  };
  for (const p of progs) if (reached.has(p) && !index.has(p)) visit(p);

  const out: Finding[] = [];
  const cycles = components
    .map((c) => [...c].sort((a, b) => a.index - b.index))
    .filter((c) => c.length > 1 || succ(c[0] as Prog).some(([t]) => t === c[0]))
    .sort((a, b) => (a[0] as Prog).index - (b[0] as Prog).index);
  for (const c of cycles) {
    const start = c[0] as Prog;
    const members = new Set(c);
    // Shortest way around, breadth first from the start back to it.
    const via = new Map<Prog, [Prog, GraphEdge]>();
    const queue: Prog[] = [start];
    let closing: [Prog, GraphEdge] | undefined;
    while (queue.length > 0 && closing === undefined) {
      const v = queue.shift() as Prog;
      for (const [w, e] of succ(v)) {
        if (!members.has(w)) continue;
        if (w === start) {
          closing = [v, e];
          break;
        }
        if (!via.has(w)) {
          via.set(w, [v, e]);
          queue.push(w);
        }
      }
    }
    if (closing === undefined) continue;
    const loop: string[] = [start.node];
    for (let v: Prog | undefined = closing[0]; v !== undefined && v !== start; v = via.get(v)?.[0]) {
      loop.splice(1, 0, v.node);
    }
    loop.push(start.node);
    const e = closing[1];
    out.push(
      finding("warning", "tail-call-cycle", {
        program: e.from,
        map: e.map,
        key: e.key ?? undefined,
        site: e.site,
        message:
          `tail calls can come back to ${start.node} (${loop.join(" → ")}): the chain runs into the ` +
          "limit of 33 tail calls, and the call past it falls through",
      }),
    );
  }
  return out;
}
