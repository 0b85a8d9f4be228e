import { checkPlan } from "../tailcall/check-plan.js";
import { formatFinding } from "../tailcall/finding-text.js";
import type { CheckReport, PipelinePlan, SourceSite } from "../tailcall/plan.js";
import { type Command, parseCommandArgs } from "./args.js";
import type { CliIo } from "./io.js";
import { readTarget } from "./target.js";

const HELP = `usage: tsbpf check (OBJ [--tail MAP:KEY=PROG ...] [--entry NAME] | PIPELINE.yaml) [--json] [--strict]

Analyses every tail-call site of the object (or of every object of a pipeline file) against what
its prog-array slots hold (the static .values, then each --tail or the file's slots), and prints
what will go wrong, with the C source line from BTF:

  empty-slot             warning  a site can call a slot nothing fills: packets fall through
  key-out-of-range       warning  a site's key is at or past the prog array's max_entries
  unreachable-program    warning  a program no entry reaches through filled slots
  tail-call-cycle        warning  a chain can come back to a program (the 33-call limit ends it)
  stack-with-tail-calls  error    a subprogram tail-calls under 256+ bytes of caller stack
  prog-type-mismatch     error    a slot holds a program of another type than the array's
  missing-program        error    --tail or --entry names something that is not there

  --tail M:K=P   put program P in slot K of prog array M (repeatable), as 'run' and 'attach' do
  --entry NAME   the program packets enter by; default: every program no slot holds
  --json         print {"findings": [...], "graph": {"nodes": [...], "edges": [...]}}
  --strict       exit 1 on warnings too

Exit status: 1 if there is an error (or, with --strict, any finding), else 0.`;

/** `tsbpf check OBJ|PIPELINE [--tail M:K=P ...] [--entry NAME] [--json] [--strict]`. */
export const checkCommand: Command = async (args, io) => {
  const { values, positionals } = parseCommandArgs("check", args, {
    tail: { type: "string", multiple: true },
    entry: { type: "string" },
    json: { type: "boolean" },
    strict: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  // Names that resolve to nothing are findings (missing-program), not a refusal to look.
  const pipeline = await readTarget(positionals, "check", {
    tail: values.tail,
    entry: values.entry,
    keepMissing: true,
  });
  return checkTarget(pipeline.plan, io, { json: values.json === true, strict: values.strict === true });
};

/** How `check` reports. */
export interface CheckOutputOptions {
  /** Print the report as JSON rather than diagnostics. */
  json?: boolean;
  /** Warnings fail the check too. */
  strict?: boolean;
}

/**
 * `tsbpf check` on a plan, whatever it was made from (an object and flags, a pipeline file):
 * analyses it, prints the report, returns the exit status.
 */
export function checkTarget(plan: PipelinePlan, io: CliIo, opts: CheckOutputOptions = {}): number {
  return reportCheck(checkPlan(plan), io, { ...opts, where: plan.name });
}

/**
 * Prints a report as `check` does (diagnostics, or JSON with `json`) and returns the exit
 * status: 1 if any error, or any warning with `strict`; else 0. `where` names findings that
 * have no source line (the object or pipeline file).
 */
export function reportCheck(
  report: CheckReport,
  io: CliIo,
  opts: CheckOutputOptions & { where: string },
): number {
  const errors = report.findings.filter((f) => f.severity === "error").length;
  const warnings = report.findings.length - errors;
  if (opts.json === true) {
    io.stdout(`${JSON.stringify(checkReportJson(report), null, 2)}\n`);
  } else {
    for (const f of report.findings) io.stdout(`${formatFinding(f, opts.where)}\n`);
    const { nodes, edges } = report.graph;
    const calls = edges.filter((e) => e.to !== null).length;
    io.stdout(
      report.findings.length === 0
        ? `${opts.where}: no findings (${count(nodes.length, "program")}, ${count(calls, "tail-call edge")})\n`
        : `${opts.where}: ${count(errors, "error")}, ${count(warnings, "warning")}\n`,
    );
  }
  return errors > 0 || (opts.strict === true && warnings > 0) ? 1 : 0;
}

/** The lines `attach` prints before attaching: the plan's `empty-slot` findings as diagnostics. */
export function emptySlotWarnings(plan: PipelinePlan): string[] {
  return checkPlan(plan)
    .findings.filter((f) => f.code === "empty-slot")
    .map((f) => formatFinding(f, plan.name));
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

type SiteJson = { insn: number; file: string | null; line: number | null };

function siteJson(s: SourceSite): SiteJson {
  return { insn: s.insn, file: s.file ?? null, line: s.line ?? null };
}

/**
 * The JSON form of a report: every field present, `null` where a finding has no program, map,
 * key or site, so consumers see one fixed shape.
 */
export function checkReportJson(report: CheckReport): {
  findings: {
    severity: string;
    code: string;
    program: string | null;
    map: string | null;
    key: number | null;
    site: SiteJson | null;
    message: string;
  }[];
  graph: {
    nodes: { name: string; object: string; type: string; entry: boolean }[];
    edges: { from: string; to: string | null; map: string; key: number | null; site: SiteJson }[];
  };
} {
  return {
    findings: report.findings.map((f) => ({
      severity: f.severity,
      code: f.code,
      program: f.program ?? null,
      map: f.map ?? null,
      key: f.key ?? null,
      site: f.site === undefined ? null : siteJson(f.site),
      message: f.message,
    })),
    graph: {
      nodes: report.graph.nodes.map((n) => ({
        name: n.name,
        object: n.object,
        type: n.type,
        entry: n.entry,
      })),
      edges: report.graph.edges.map((e) => ({
        from: e.from,
        to: e.to,
        map: e.map,
        key: e.key,
        site: siteJson(e.site),
      })),
    },
  };
}
