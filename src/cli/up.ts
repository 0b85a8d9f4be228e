import { type FSWatcher, watch } from "node:fs";
import { relative, resolve } from "node:path";
import { downPipeline, type UpResult, upPipeline } from "../pipeline/deploy.js";
import { loadPipeline } from "../pipeline/pipeline.js";
import { isTsbpfError } from "../errors.js";
import { formatStats } from "../stats/read-stats.js";
import { type Command, parseCommandArgs, usage } from "./args.js";
import type { CliIo } from "./io.js";
import { formatDown } from "./down.js";
import { isPipelineFile } from "./target.js";
import { describeAttachment, describeSlots } from "./status.js";

const HELP = `usage: tsbpf up PIPELINE [--netns NAME] [--stats] [--watch [--down-on-exit]]

Puts a pipeline file up on the kernel (root) so that it keeps running after this command exits:
loads every object, fills the slots the file names, attaches the entry program to attach.iface
through a bpf_link (XDP in attach.mode; with attach.hook tc-ingress or tc-egress a tcx link, after
what other tools attached to that hook, which stay; or with attach.tc-mode filter, or auto on a
kernel without tcx, a cls_bpf filter at a priority after theirs), and pins it all in bpffs under
the file's pin: directory (default /sys/fs/bpf/tsbpf/<name>): DIR/link (none for a filter, which
stays on its hook), DIR/meta (what 'tsbpf status' shows) and each object's maps and programs
under DIR/<object>/. Then it exits.

If another version of the pipeline is up there (same name and attach point, other content), up
upgrades it with no packet lost: it loads the new version with fresh prog arrays, fills every
slot, switches the entry on the existing link (XDP or tcx) or filter (replaced in place at its
priority and handle) in one atomic step, waits until no packet can
still be inside the old version, moves the pins and releases the old one. Every packet runs the
old chain or the new one entirely. Maps the file lists under state: are carried over (same type
and sizes), every other map starts fresh; counters (stats) start at 0 and the old version's final
counts are printed. If anything fails before the switch, the old version runs on untouched.

If the same pipeline is up already, nothing changes, except that slots a 'tsbpf swap' changed
are put back to the file's programs (it says which).

  --netns NAME      the interface is in network namespace NAME (instead of the file's
                    attach.netns); pins stay in this host's bpffs
  --stats           load the programs with per-stage counters (as stats: true in the file does):
                    'tsbpf stats PIPELINE' and 'tsbpf top PIPELINE' read them
  --watch           stay running: apply the file again (an upgrade) whenever it or one of its
                    object files changes (a rebuild), saying what was done; on SIGTERM or Ctrl+C leave the pipeline up and exit
  --down-on-exit    with --watch: take the pipeline down on SIGTERM or Ctrl+C

Run it from the host, with --netns, rather than inside 'ip netns exec'.`;

/** What `up` prints for one application of the file. */
function report(r: UpResult, shown: string): string {
  const s = r.status;
  if (!r.changed) {
    let out = `${s.meta.name} is already up under ${s.dir} with the same content (since ${s.meta.upAt})`;
    out +=
      r.restored.length === 0
        ? ": nothing changed\n"
        : `; put the file's programs back in ${r.restored.length} slot(s) a swap had changed: ${r.restored.join(", ")}\n`;
    return out;
  }
  let out = "";
  const u = r.upgraded;
  if (u !== undefined) {
    out += `upgraded: ${s.meta.name}: the version up since ${u.previous.upAt} replaced in one switch on the ${s.filter === undefined ? "link" : "filter"} (grace period ${u.graceMs.toFixed(1)} ms)\n`;
    for (const m of u.state) {
      out += m.carried
        ? `state: ${m.map} carried over from the previous version\n`
        : `state: ${m.map} starts fresh: ${m.why ?? "not carried"}\n`;
    }
    if (u.finalStats !== undefined) {
      out += `final counts of the previous version:\n${formatStats(u.finalStats).replace(/^/gm, "  ")}\n`;
    }
  }
  out += `up: ${s.meta.name}: ${describeAttachment(s)}; slots: ${describeSlots(s)}\n`;
  out += `pinned under ${s.dir}: it runs until 'tsbpf down ${shown}'; 'tsbpf status ${shown}' shows it\n`;
  return out;
}

/** `tsbpf up PIPELINE [--netns NAME] [--stats] [--watch [--down-on-exit]]`. */
export const upCommand: Command = async (args, io, flags) => {
  const { values, positionals } = parseCommandArgs("up", args, {
    netns: { type: "string" },
    stats: { type: "boolean" },
    watch: { type: "boolean" },
    "down-on-exit": { type: "boolean" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (positionals.length !== 1) {
    usage(`up: one pipeline file expected, got ${positionals.length}`, "tsbpf up PIPELINE [--netns NAME]");
  }
  if (values["down-on-exit"] === true && values.watch !== true) {
    usage("up: --down-on-exit goes with --watch", "tsbpf up PIPELINE --watch --down-on-exit");
  }
  const given = positionals[0] as string;
  if (!isPipelineFile(given)) {
    usage(
      `up: ${given} is not a pipeline file (.yaml)`,
      "to keep one object attached, use tsbpf attach OBJ --prog NAME --iface IF --pin DIR",
    );
  }
  const file = resolve(io.cwd, given);
  const shown = relative(io.cwd, file).startsWith("..") ? file : relative(io.cwd, file);
  // What --watch watches: the file and, once it has loaded, the object files it names.
  let watched: string[] = [file];
  const apply = async (signal: AbortSignal): Promise<UpResult> => {
    const pipeline = await loadPipeline(file);
    watched = [file, ...Object.values(pipeline.sources).map((s) => s.file)];
    const r = await upPipeline(pipeline, {
      ...(values.netns === undefined ? {} : { netns: values.netns }),
      onWarning: (m) => io.stderr(`tsbpf: warning: ${m}\n`),
      signal,
      by: values.watch === true ? "tsbpf up --watch" : "tsbpf up",
      ...(values.stats === true ? { stats: true } : {}),
    });
    if (r.mountedBpffs) io.stderr("tsbpf: note: no bpffs was mounted on /sys/fs/bpf; mounted one\n");
    io.stdout(report(r, shown));
    return r;
  };
  if (values.watch === true)
    return watchFile(file, () => watched, apply, values["down-on-exit"] === true, io, flags.verbose);
  // Ctrl+C while going up undoes everything rather than leaving half a pipeline behind.
  const stop = new AbortController();
  const onSignal = (): void => stop.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await apply(stop.signal);
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  return 0;
};

/**
 * `up --watch`: applies the file, then again whenever it or one of its object files changes (a
 * rebuilt object is a new version too). Editors and ConfigMap updates replace files rather than
 * write them, so the directories are watched. A failed application is reported and what runs
 * stays; the first one failing ends the command.
 */
async function watchFile(
  file: string,
  watched: () => string[],
  apply: (signal: AbortSignal) => Promise<UpResult>,
  downOnExit: boolean,
  io: CliIo,
  verbose: boolean,
): Promise<number> {
  const stop = new AbortController();
  let wake: (() => void) | undefined;
  const onSignal = (): void => {
    stop.abort();
    wake?.();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const { dirname, basename } = await import("node:path");
  const { readFile, stat } = await import("node:fs/promises");
  // The pipeline file by its text (a rewrite with the same text is no change), objects by size and time.
  const signature = (files: string[]): Promise<string[]> =>
    Promise.all(
      files.map((f, i) =>
        i === 0
          ? readFile(f, "utf8").catch(() => "")
          : stat(f).then(
              (st) => `${f} ${st.size} ${st.mtimeMs}`,
              () => `${f} gone`,
            ),
      ),
    );
  let dirty = false;
  const watchers = new Map<string, FSWatcher>();
  const rewatch = (files: string[]): void => {
    const names = new Map<string, Set<string>>();
    for (const f of files) {
      const d = dirname(f);
      names.set(d, (names.get(d) ?? new Set()).add(basename(f)));
    }
    for (const [d, w] of watchers) {
      if (!names.has(d)) {
        w.close();
        watchers.delete(d);
      }
    }
    for (const [d, wanted] of names) {
      watchers.get(d)?.close();
      watchers.set(
        d,
        watch(d, (_event, name) => {
          if (name === null || wanted.has(name) || name.startsWith("..")) {
            dirty = true;
            wake?.();
          }
        }),
      );
    }
  };
  rewatch([file]);
  let last: string[];
  let dir: string | undefined;
  try {
    const first = await apply(stop.signal);
    dir = first.status.dir;
    rewatch(watched());
    last = await signature(watched());
    const objects = watched().length - 1;
    io.stdout(
      `watching ${file}${objects > 0 ? ` and its ${objects === 1 ? "object" : `${objects} objects`}` : ""}: each change is applied (Ctrl+C or SIGTERM ends; the pipeline ${downOnExit ? "goes down" : "stays up"})\n`,
    );
    while (!stop.signal.aborted) {
      await new Promise<void>((r) => {
        wake = r;
        if (dirty || stop.signal.aborted) r();
      });
      wake = undefined;
      if (stop.signal.aborted) break;
      dirty = false;
      // Let a burst of writes settle, then apply only if something changed.
      await new Promise((r) => setTimeout(r, 200));
      const files = watched();
      const now = await signature(files);
      const changed = files.filter((_, i) => now[i] !== last[i]);
      if (changed.length === 0) continue;
      last = now;
      io.stdout(`${new Date().toISOString()}: ${changed.join(", ")} changed\n`);
      try {
        await apply(new AbortController().signal);
      } catch (e) {
        if (!isTsbpfError(e)) throw e;
        io.stderr(`tsbpf: ${e.message}${e.hint === undefined || !verbose ? "" : ` — hint: ${e.hint}`}\n`);
        io.stdout("the running version stays up\n");
      }
      // A new version may name other objects.
      if (watched().some((f, i) => f !== files[i]) || watched().length !== files.length) {
        rewatch(watched());
        last = await signature(watched());
      }
    }
  } finally {
    for (const w of watchers.values()) w.close();
  }
  try {
    if (downOnExit && dir !== undefined) {
      io.stdout(formatDown(await downPipeline(dir), dir));
    } else {
      io.stdout(`exiting; the pipeline stays up under ${dir ?? "its pin directory"}\n`);
    }
  } finally {
    // Only now: a second Ctrl+C while --down-on-exit takes the pipeline down finds the handler,
    // not Node's default, which would end the process with half the pins removed.
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  return 0;
}
