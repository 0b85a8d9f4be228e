/**
 * tc pipelines pinned on a netlink cls_bpf filter (`attach: {hook: tc-ingress, tc-mode: filter}`),
 * as a user runs them, on one end of a veth in a test-made namespace: `up` leaves a filter (no
 * link) that runs on after it exits (real SYNs, counted per stage), status reads the filter back
 * and lists every filter on the hook in priority order (an iproute2 one too), a filter replaced
 * behind our back is a problem and is left in place by down, and down removes exactly our
 * filter: iproute2's stays, and so does the clsact qdisc, which was not ours to remove. Also
 * `attach --tc --tc-mode filter --pin` with `detach --pin`, and the mistakes as one line each.
 * The upgrade under load on a filter is in tc-filter-upgrade.test.ts.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { AS_NOBODY, createVethNs, runCli, sendSyn, startCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import { qdiscKinds, tc, tcFilters, tcxProgs, oneLine, pinnedTcPlace, TC_DISPATCH } from "./tc-support.js";

const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("tc") && hasCommand("setpriv") && ensureBpffs()
    ? undefined
    : "needs ip and tc (iproute2), setpriv and a bpffs at /sys/fs/bpf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { root: ROOT, pipeline } = pinnedTcPlace("tcfilterpin");

const yaml = (name: string, iface: string, ns: string, tcMode = "filter") =>
  `name: ${name}
object: ${TC_DISPATCH}
entry: tc_main
slots:
  prog_array: {0: tc_port8080, 1: tc_port22}
attach: {iface: ${iface}, netns: ${ns}, hook: tc-ingress, tc-mode: ${tcMode}}
stats: true
pin: ${ROOT}/${name}
`;

interface StatusJson {
  running: boolean;
  hook: string;
  attachment: { kind: string; prio?: number; handle?: number; progId?: number; createdQdisc?: boolean };
  link: unknown;
  entry: { program: string; id: number };
  filters:
    | { prio: number; handle: number; kind: string; progId?: number; name?: string; ours: boolean }[]
    | null;
  problems: string[];
}

function statusJson(args: string[]): StatusJson {
  const r = runCli(["status", ...args, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

/** iproute2's own way of adding a tc program at `pref`: `tc filter add ... bpf da obj ... sec tc`. */
function iproute2Filter(ns: string, iface: string, hook: string, pref: number, verb = "add"): void {
  tc(
    ns,
    "filter",
    verb,
    "dev",
    iface,
    hook,
    "pref",
    String(pref),
    ...(verb === "replace" ? ["handle", "1"] : []),
    "bpf",
    "da",
    "obj",
    TC_DISPATCH,
    "sec",
    "tc",
  );
}

test("up with tc-mode filter leaves a cls_bpf filter that runs real SYNs per stage; status lists the hook's filters in priority order; down removes ours, iproute2's and the clsact stay", {
  skip,
}, async () => {
  const t = pipeline("j", "tcfpin", (name, net) => yaml(name, net.peerIf, net.ns));
  const { net, name, dir, file } = t;
  let att: ReturnType<typeof startCli> | undefined;
  try {
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    assert.equal(up.stderr, "");
    assert.match(
      up.stdout,
      new RegExp(
        `^up: ${name}: tc_main on ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+\\), hook tc-ingress \\(cls_bpf filter pref 1 handle 0x1\\); slots: prog_array\\[0\\]=tc_port8080, prog_array\\[1\\]=tc_port22\npinned under ${dir}: `,
      ),
    );
    // A filter, not a link: nothing on tcx, nothing pinned as DIR/link.
    assert.deepEqual(readdirSync(dir).sort(), ["main", "meta"]);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
    const ours = tcFilters(net.ns, net.peerIf, "ingress");
    assert.deepEqual(
      ours.map((f) => [f.pref, f.handle, f.name, f.directAction]),
      [[1, 1, "tsbpf-pin:tc_main", true]],
    );

    // `detach --tc` removes the `tsbpf:` leftovers of a killed attach, not a pinned pipeline's filter.
    const leftovers = runCli(["detach", "--tc", "ingress", "--iface", net.peerIf, "--netns", net.ns]);
    assert.equal(leftovers.status, 0, leftovers.stderr);
    assert.match(leftovers.stdout, /^no tsbpf filter on /);
    assert.equal(tcFilters(net.ns, net.peerIf, "ingress").length, 1);

    // up has exited; the filter runs on: each stage counts its own SYNs.
    for (const port of [8080, 8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
    await sleep(300);
    const st = runCli(["stats", file, "--json"]);
    assert.equal(st.status, 0, st.stderr);
    const stats = JSON.parse(st.stdout) as {
      programs: Record<string, { runs: number; verdicts: Record<string, number> }>;
    };
    assert.equal(stats.programs.tc_port8080?.runs, 2, st.stdout);
    assert.deepEqual(stats.programs.tc_port8080?.verdicts, { TC_ACT_OK: 2 });
    assert.equal(stats.programs.tc_port22?.runs, 1, st.stdout);
    assert.deepEqual(stats.programs.tc_port22?.verdicts, { TC_ACT_SHOT: 1 });

    // Another tool adds its filter after ours: status shows both in priority order.
    iproute2Filter(net.ns, net.peerIf, "ingress", 100);
    const foreign = tcFilters(net.ns, net.peerIf, "ingress").find((f) => f.pref === 100);
    assert.ok(foreign);
    const s = statusJson([file]);
    assert.equal(s.running, true);
    assert.deepEqual(s.problems, []);
    assert.equal(s.link, null);
    assert.deepEqual(
      [
        s.attachment.kind,
        s.attachment.prio,
        s.attachment.handle,
        s.attachment.progId,
        s.attachment.createdQdisc,
      ],
      ["tc-filter", 1, 1, s.entry.id, true],
    );
    assert.equal(ours[0]?.progId, s.entry.id);
    assert.deepEqual(
      s.filters?.map((f) => [f.prio, f.kind, f.progId, f.ours]),
      [
        [1, "bpf", s.entry.id, true],
        [100, "bpf", foreign.progId, false],
      ],
    );
    const text = runCli(["status", "--pin", dir]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(
        `\n {2}attached: {2}tc_main on ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+\\), hook tc-ingress \\(cls_bpf filter pref 1 handle 0x1\\)\n {2}tc-ingress: pref 1 handle 0x1 bpf tsbpf-pin:tc_main \\(id ${s.entry.id}, this pipeline's\\), pref 100 handle 0x1 bpf ${foreign.name.replace(/[[\]().]/g, "\\$&")} \\(id ${foreign.progId}\\) \\(in priority order\\)\n`,
      ),
    );
    // The same file: nothing changes. Asking for a tcx link instead: refused, nothing changed.
    assert.match(runCli(["up", file]).stdout, /with the same content .*: nothing changed\n$/);
    writeFileSync(file, yaml(name, net.peerIf, net.ns, "tcx"));
    oneLine(
      runCli(["up", file]),
      new RegExp(
        `^tsbpf: ${dir} runs pipeline ${name} attached as a cls_bpf filter; this file asks for a tcx link \\(tc-mode tcx\\): an upgrade keeps how it is attached, nothing was changed`,
      ),
    );
    // A typo: one line naming the file and the field.
    writeFileSync(file, yaml(name, net.peerIf, net.ns, "filtr"));
    oneLine(
      runCli(["up", file]),
      new RegExp(
        `^tsbpf: ${name}\\.yaml: attach\\.tc-mode: 'filtr' is not a tc mode \\(did you mean 'filter'\\?\\): expected auto, tcx, filter`,
      ),
    );
    writeFileSync(file, yaml(name, net.peerIf, net.ns));
    // From inside `ip netns exec` and as nobody: one line each, the filter runs on.
    for (const cmd of ["status", "down"]) {
      oneLine(
        runCli([cmd, file], ["ip", "netns", "exec", net.ns]),
        new RegExp(
          `^tsbpf: no pinned pipeline at ${dir}: no such directory — hint: this process sees no bpffs there`,
        ),
      );
      oneLine(runCli([cmd, file], [...AS_NOBODY]), /^tsbpf: /);
    }
    // A namespace it does not run in: refused before anything is removed.
    const other = createVethNs("o");
    try {
      const wrong = statusJson([file, "--netns", other.ns]);
      assert.equal(wrong.running, false);
      // It says where the pipeline is not, not that its interface is gone.
      assert.match(
        wrong.problems.join("\n"),
        new RegExp(
          `^the pipeline is not attached in network namespace '${other.ns}': no interface has ifindex \\d+ there \\(it went up in '${net.ns}'\\)$`,
          "m",
        ),
      );
      assert.doesNotMatch(wrong.problems.join("\n"), /is gone/);
      const text = runCli(["status", file, "--netns", other.ns]);
      assert.equal(text.status, 0, text.stderr);
      assert.match(text.stdout, /NOT RUNNING/);
      assert.match(
        text.stdout,
        new RegExp(`^ {4}the pipeline is not attached in network namespace '${other.ns}'`, "m"),
      );
      oneLine(
        runCli(["down", file, "--netns", other.ns]),
        new RegExp(
          `^tsbpf: the pipeline pinned at ${dir} is not attached in network namespace '${other.ns}'`,
        ),
      );
    } finally {
      other.remove();
    }
    assert.equal(tcFilters(net.ns, net.peerIf, "ingress").length, 2);

    const down = runCli(["down", file, "--netns", net.ns]);
    assert.equal(down.status, 0, down.stderr);
    assert.match(
      down.stdout,
      new RegExp(
        `^detached ${name} from ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+\\), and removed \\d+ pins and ${dir}\n$`,
      ),
    );
    // Only iproute2's filter is left, and the clsact qdisc it sits on (not empty: not removed).
    assert.deepEqual(
      tcFilters(net.ns, net.peerIf, "ingress").map((f) => [f.pref, f.progId]),
      [[100, foreign.progId]],
    );
    assert.ok(qdiscKinds(net.ns, net.peerIf).includes("clsact"));
    assert.equal(existsSync(dir), false);

    // attach --pin with a filter: kept after exit, recorded, removed by detach --pin.
    const pinDir = `${ROOT}/attached`;
    att = startCli([
      "attach",
      TC_DISPATCH,
      "--prog",
      "tc_main",
      "--iface",
      net.peerIf,
      "--netns",
      net.ns,
      "--tc",
      "ingress",
      "--tc-mode",
      "filter",
      "--pin",
      pinDir,
      "--tail",
      "prog_array:0=tc_port8080",
    ]);
    await att.waitFor(/pinned under/);
    att.child.kill("SIGINT");
    assert.equal(await att.exited, 0, att.stderr());
    assert.match(
      att.stdout(),
      /hook tc-ingress, cls_bpf filter pref 101 handle 0x1\); slots: prog_array\[0\]=tc_port8080\npinned under /,
    );
    assert.match(att.stdout(), /left the pipeline pinned under /);
    const a = statusJson(["--pin", pinDir]);
    assert.deepEqual(
      [a.running, a.attachment.kind, a.attachment.prio, a.attachment.createdQdisc],
      [true, "tc-filter", 101, false],
    );
    assert.deepEqual(
      tcFilters(net.ns, net.peerIf, "ingress").map((f) => [f.pref, f.name.startsWith("tsbpf-pin:")]),
      [
        [100, false],
        [101, true],
      ],
    );
    // Another tool replaces our filter with its own program: a problem, and detach leaves it.
    iproute2Filter(net.ns, net.peerIf, "ingress", 101, "replace");
    const replaced = statusJson(["--pin", pinDir]);
    assert.equal(replaced.running, false);
    assert.match(
      replaced.problems.join("\n"),
      /the filter at priority 101 handle 0x1 of \S+ tc ingress runs program id \d+, not the pipeline's entry \(id \d+\): it was replaced/,
    );
    const det = runCli(["detach", "--pin", pinDir]);
    assert.equal(det.status, 0, det.stderr);
    assert.match(
      det.stdout,
      /\nnote: the filter at priority 101 handle 0x1 of \S+ tc ingress runs program id \d+, not the pipeline's \(\d+\): another tool replaced it; left in place\n/,
    );
    assert.equal(existsSync(pinDir), false);
    assert.deepEqual(
      tcFilters(net.ns, net.peerIf, "ingress").map((f) => f.pref),
      [100, 101],
    );
    assert.equal(existsSync(ROOT), false);
  } finally {
    att?.child.kill("SIGKILL");
    if (existsSync(`${ROOT}/attached`)) runCli(["down", "--pin", `${ROOT}/attached`]);
    t.remove();
  }
});

test("a filter pipeline on a hook with no clsact: down removes the filter and the clsact up made; the interface gone is a problem, not an error", {
  skip,
}, async () => {
  const t = pipeline("i", "tcfgone", (name, net) => yaml(name, net.peerIf, net.ns));
  const { net, file } = t;
  try {
    assert.ok(!qdiscKinds(net.ns, net.peerIf).includes("clsact"));
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    assert.ok(qdiscKinds(net.ns, net.peerIf).includes("clsact"));
    const down = runCli(["down", file]);
    assert.equal(down.status, 0, down.stderr);
    assert.match(down.stdout, /\nremoved the clsact qdisc up had created \(nothing else was on it\)\n$/);
    assert.deepEqual(tcFilters(net.ns, net.peerIf, "ingress"), []);
    assert.ok(!qdiscKinds(net.ns, net.peerIf).includes("clsact"));
    // Up again, then the interface goes: status says so, down still removes every pin.
    assert.equal(runCli(["up", file]).status, 0);
    execFileSync("ip", ["link", "del", net.hostIf]);
    const s = statusJson([file]);
    assert.equal(s.running, false);
    assert.match(
      s.problems.join("\n"),
      /the interface \S+ is gone \(no ifindex \d+ in network namespace '[^']+'\), and its filter with it/,
    );
    const gone = runCli(["down", file]);
    assert.equal(gone.status, 0, gone.stderr);
    assert.match(gone.stdout, /nothing was attached/);
    assert.equal(existsSync(ROOT), false);
  } finally {
    t.remove();
  }
});
