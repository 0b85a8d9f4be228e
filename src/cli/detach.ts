import { resolve } from "node:path";
import { interfaceIndex } from "../kernel/netlink-xdp.js";
import { checkNetns, inNetns } from "../kernel/netns.js";
import { defaultSys } from "../kernel/sys.js";
import { TC_HOOKS, type TcHook } from "../kernel/tc-link.js";
import { removeTsbpfFilters } from "../kernel/tc-netlink.js";
import { downPipeline } from "../pipeline/deploy.js";
import { type Command, usage } from "./args.js";
import { formatDown } from "./down.js";
import { pipelineArgs } from "./pipeline-args.js";

const HELP = `usage: tsbpf detach --pin DIR [--netns NAME]
       tsbpf detach --tc HOOK --iface IF [--netns NAME]

Removes a pipeline that 'tsbpf attach --pin DIR' (or 'tsbpf up') left running: detaches its link
(XDP or tcx; other tools' programs on the same tc hook stay), then removes the pinned link, description, maps and programs and the directory itself.
It is the same operation as 'tsbpf down --pin DIR'.

  --netns NAME   the network namespace the pipeline was attached in (attach --netns NAME):
                 a pipeline that is not attached there is refused. Detaching itself needs no
                 namespace.

Run it from the host, not inside 'ip netns exec': that hides the host's bpffs and its pins.

With --tc HOOK (ingress or egress) it removes the cls_bpf filters tsbpf attach added to that tc
hook of interface IF (those named tsbpf:PROGRAM), such as one left by an attach killed with
kill -9; other tools' filters stay. The clsact qdisc goes too when that attach created it (its
filter is named tsbpf:PROGRAM+clsact) and nothing else is on it; one that was there before stays.`;

/** `tsbpf detach --pin DIR [--netns NAME]`: `tsbpf down --pin DIR`. */
export const detachCommand: Command = async (args, io) => {
  const a = pipelineArgs("detach", args, io, HELP, { tc: { type: "string" }, iface: { type: "string" } });
  if (a === undefined) return 0;
  const { values, positionals } = a;
  if (positionals.length > 0)
    usage(`detach: unexpected argument '${positionals[0]}'`, "tsbpf detach --pin DIR [--netns NAME]");
  if (values.tc !== undefined || values.iface !== undefined) {
    if (values.pin !== undefined) usage("detach: --pin DIR or --tc HOOK --iface IF, not both");
    return detachTcFilters(values.tc, values.iface, values.netns, io.stdout);
  }
  if (values.pin === undefined)
    usage("detach: missing --pin DIR (the directory given to tsbpf attach --pin)");
  const dir = resolve(io.cwd, values.pin);
  const r = await downPipeline(dir, a.netnsOption);
  io.stdout(formatDown(r, dir));
  return 0;
};

/** `tsbpf detach --tc HOOK --iface IF [--netns NAME]`: removes tsbpf's cls_bpf filters from the hook. */
function detachTcFilters(
  tc: string | undefined,
  iface: string | undefined,
  netns: string | undefined,
  out: (s: string) => void,
): number {
  if (tc === undefined) usage("detach: missing --tc HOOK (ingress or egress) to go with --iface");
  if (!(TC_HOOKS as readonly string[]).includes(tc)) {
    usage(`detach: --tc must be ${TC_HOOKS.join(" or ")}, not '${tc}'`);
  }
  if (iface === undefined) usage("detach: missing --iface IF (the interface the tc filter is on)");
  const hook = tc as TcHook;
  if (netns !== undefined) checkNetns(netns);
  const sys = defaultSys();
  const { removed, qdiscRemoved } = inNetns(sys, netns, () =>
    removeTsbpfFilters(sys, interfaceIndex(sys, iface, netns), hook, iface),
  );
  const where = `${iface}${netns === undefined ? "" : ` in netns ${netns}`} tc ${hook}`;
  if (removed.length === 0) out(`no tsbpf filter on ${where}\n`);
  for (const f of removed) {
    out(
      `removed filter ${f.name ?? "?"} (pref ${f.prio} handle 0x${f.handle.toString(16)}, prog id ${f.progId ?? "?"}) from ${where}\n`,
    );
  }
  if (qdiscRemoved)
    out(`removed the clsact qdisc of ${iface} the attach had created (nothing else was on it)\n`);
  return 0;
}
