/**
 * tc pipelines pinned, as a user runs them: `tsbpf up` of a file with `attach.hook: tc-ingress`
 * on one end of a veth in a test-made namespace, where "another tool" attached a tcx program to
 * the same hook first. The pipeline runs on after up exited (real SYNs, counted per stage),
 * status shows the hook, the link, what the hook runs and the slots, stats/graph --stats read the
 * counts, and down (or detach) removes exactly our link: the other tool's program stays. Also
 * `attach --tc egress --pin DIR` with `detach --pin DIR`, and the mistakes (a program of the
 * wrong type, `ip netns exec`, no privilege) as one line each.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { AS_NOBODY, createVethNs, loadedProgramIds, runCli, sendSyn, startCli } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";
import {
  attachForeignTc,
  type ForeignTc,
  tcxProgs,
  oneLine,
  pinnedTcPlace,
  TC_DISPATCH,
} from "./tc-support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && hasCommand("setpriv") && ensureBpffs()
    ? undefined
    : "needs ip (iproute2), bpftool, setpriv and a bpffs at /sys/fs/bpf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const { root: ROOT, pipelineFile, pipeline } = pinnedTcPlace("tcup");

const tcYaml = (name: string, iface: string, ns: string, hook = "tc-ingress", object = TC_DISPATCH) =>
  `name: ${name}
object: ${object}
entry: ${object === TC_DISPATCH ? "tc_main" : "main_prog"}
slots:
  prog_array: {0: ${object === TC_DISPATCH ? "tc_port8080" : "port8080_prog"}, 1: ${object === TC_DISPATCH ? "tc_port22" : "port22_prog"}}
attach: {iface: ${iface}, netns: ${ns}, hook: ${hook}}
stats: true
pin: ${ROOT}/${name}
`;

interface StatusJson {
  running: boolean;
  hook: string;
  attachment: { kind: string };
  mode: string;
  iface: string;
  netns: string | null;
  link: { id: number; programId: number };
  entry: { program: string; id: number };
  tcx: { progId: number; linkId: number; name: string; ours: boolean }[] | null;
  progArrays: { map: string; slots: { key: number; program: string }[] }[];
  problems: string[];
}

function statusJson(args: string[]): StatusJson {
  const r = runCli(["status", ...args, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

test("up of a tc-ingress pipeline pins its tcx link after another tool's program, runs on real SYNs, status and stats read it, down leaves the other program", {
  skip,
}, async () => {
  const t = pipeline("k", "tcseed", (name, net) => tcYaml(name, net.peerIf, net.ns));
  const { net, name, dir, file } = t;
  let foreign: ForeignTc | undefined;
  try {
    // Another tool was there first, on the same hook.
    foreign = attachForeignTc(net.peerIf, net.ns, "ingress");
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["ingress:foreign_tc"]);

    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    assert.equal(up.stderr, "");
    assert.match(
      up.stdout,
      new RegExp(
        `^up: ${name}: tc_main on ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+\\), hook tc-ingress \\(tcx link\\); slots: prog_array\\[0\\]=tc_port8080, prog_array\\[1\\]=tc_port22\npinned under ${dir}: `,
      ),
    );
    // Appended after the other tool's program, which stays first.
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["ingress:foreign_tc", "ingress:tc_main"]);
    assert.deepEqual(readdirSync(dir).sort(), ["link", "main", "meta"]);

    // up has exited; the pipeline runs on: each stage counts its own SYNs.
    for (const port of [8080, 8080, 22, 9999]) sendSyn(undefined, net.peerIp, port);
    await sleep(300);
    const st = runCli(["stats", file, "--json", "--netns", net.ns]);
    assert.equal(st.status, 0, st.stderr);
    const stats = JSON.parse(st.stdout) as {
      programs: Record<string, { runs: number; verdicts: Record<string, number> }>;
    };
    assert.equal(stats.programs.tc_port8080?.runs, 2, st.stdout);
    assert.deepEqual(stats.programs.tc_port8080?.verdicts, { TC_ACT_OK: 2 });
    assert.equal(stats.programs.tc_port22?.runs, 1, st.stdout);
    assert.deepEqual(stats.programs.tc_port22?.verdicts, { TC_ACT_SHOT: 1 });
    assert.ok((stats.programs.tc_main?.runs ?? 0) >= 4, st.stdout);
    const graph = runCli(["graph", file, "--stats", "--format", "dot"]);
    assert.equal(graph.status, 0, graph.stderr);
    assert.match(graph.stdout, /tc_port8080[^\n]*2 runs/);
    const top = runCli(["top", file, "--iterations", "1", "--interval", "100", "--netns", net.ns]);
    assert.equal(top.status, 0, top.stderr);
    assert.match(top.stdout, /chain \(entry tc_main, kernel stats\)/);
    assert.match(top.stdout, /\ntc_port8080 +2 +\S+ +TC_ACT_OK 2\n/);

    const s = statusJson([file]);
    assert.deepEqual(
      [s.running, s.hook, s.attachment, s.mode],
      [true, "tc-ingress", { kind: "tcx" }, "tc-ingress"],
    );
    assert.deepEqual(s.problems, []);
    assert.deepEqual([s.iface, s.netns, s.entry.program], [net.peerIf, net.ns, "tc_main"]);
    assert.equal(s.link.programId, s.entry.id);
    assert.deepEqual(s.tcx, [
      { progId: foreign.progId, linkId: s.tcx?.[0]?.linkId, name: "foreign_tc", ours: false },
      { progId: s.entry.id, linkId: s.link.id, name: "tc_main", ours: true },
    ]);
    assert.deepEqual(
      s.progArrays.map((a) => [a.map, a.slots.map((x) => [x.key, x.program])]),
      [
        [
          "prog_array",
          [
            [0, "tc_port8080"],
            [1, "tc_port22"],
          ],
        ],
      ],
    );
    const text = runCli(["status", "--pin", dir]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(
        `\n {2}attached: {2}tc_main on ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+\\), hook tc-ingress \\(tcx link\\), link id ${s.link.id}\n {2}tc-ingress: \\[0\\] foreign_tc \\(id ${foreign.progId}, link \\d+\\), \\[1\\] tc_main \\(id ${s.entry.id}, this pipeline's link ${s.link.id}\\) \\(in run order\\)\n`,
      ),
    );
    // The same file again: nothing changes.
    const again = runCli(["up", file]);
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /with the same content .*: nothing changed\n$/);
    // The same pipeline moved to egress is another attach point: refused, nothing changed.
    writeFileSync(file, tcYaml(name, net.peerIf, net.ns, "tc-egress"));
    oneLine(
      runCli(["up", file]),
      new RegExp(
        `^tsbpf: ${dir} runs pipeline ${name} on ${net.peerIf} \\(netns ${net.ns}\\) at hook tc-ingress from \\S+; this one is ${name} on ${net.peerIf} \\(netns ${net.ns}\\) at hook tc-egress: an upgrade keeps the name and the attach point`,
      ),
    );
    writeFileSync(file, tcYaml(name, net.peerIf, net.ns));
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["ingress:foreign_tc", "ingress:tc_main"]);

    // A namespace the pipeline does not run in: refused before anything is removed.
    const other = createVethNs("l");
    try {
      // Status looked up in the wrong namespace says so rather than showing the pipeline running.
      const wrong = statusJson([file, "--netns", other.ns]);
      assert.equal(wrong.running, false);
      assert.match(
        wrong.problems.join("\n"),
        /no interface has ifindex \d+ in network namespace|the tc-ingress hook of \S+ does not run the pipeline's link/,
      );
      assert.equal(statusJson([file, "--netns", net.ns]).running, true);
      oneLine(
        runCli(["down", file, "--netns", other.ns]),
        new RegExp(
          `^tsbpf: the pipeline pinned at ${dir} is not attached in network namespace '${other.ns}'`,
        ),
      );
    } finally {
      other.remove();
    }
    assert.ok(existsSync(`${dir}/link`));

    const ids = new Set(
      (JSON.parse(runCli(["status", file, "--json"]).stdout) as { programs: { id: number }[] }).programs.map(
        (p) => p.id,
      ),
    );
    const down = runCli(["down", file, "--netns", net.ns]);
    assert.equal(down.status, 0, down.stderr);
    assert.match(
      down.stdout,
      new RegExp(
        `^detached ${name} from ${net.peerIf} \\(netns ${net.ns}, ifindex \\d+\\), and removed 9 pins and ${dir}\n$`,
      ),
    );
    // Exactly our link went: the other tool's program is still on the hook, and still runs.
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["ingress:foreign_tc"]);
    assert.equal(existsSync(ROOT), false, "down removed the directory up made above the pins");
    assert.deepEqual(
      loadedProgramIds().filter((p) => ids.has(p.id)),
      [],
      "the pipeline's programs are unloaded",
    );
  } finally {
    t.remove();
    foreign?.close();
  }
});

test("attach --tc egress --pin keeps a tc pipeline after exit; status --pin shows it; detach --pin removes only it", {
  skip,
}, async () => {
  const net = createVethNs("m");
  const dir = `${ROOT}-attach`;
  try {
    const p = startCli([
      "attach",
      TC_DISPATCH,
      "--prog",
      "tc_main",
      "--iface",
      net.peerIf,
      "--netns",
      net.ns,
      "--tc",
      "egress",
      "--tail",
      "prog_array:1=tc_port22",
      "--pin",
      dir,
    ]);
    await p.waitFor(/pinned under/);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.match(p.stdout(), /left the pipeline pinned under /);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["egress:tc_main"], "still attached after exit");
    // Another tsbpf attach on the same hook, after ours: it is another tool's program to ours.
    const b = startCli(
      ["attach", TC_DISPATCH, "--prog", "tc_port8080", "--iface", net.peerIf, "--tc", "egress"],
      ["nsenter", `--net=/run/netns/${net.ns}`],
    );
    try {
      await b.waitFor(/printing trace lines|running without trace lines/);
      const s = statusJson(["--pin", dir]);
      assert.deepEqual(
        [s.running, s.hook, s.attachment.kind, s.entry.program, s.netns],
        [true, "tc-egress", "tcx", "tc_main", net.ns],
      );
      assert.deepEqual(
        s.tcx?.map((e) => [e.name, e.ours]),
        [
          ["tc_main", true],
          ["tc_port8080", false],
        ],
      );
      assert.deepEqual(
        s.progArrays[0]?.slots.map((x) => [x.key, x.program]),
        [[1, "tc_port22"]],
      );
      const d = runCli(["detach", "--pin", dir]);
      assert.equal(d.status, 0, d.stderr);
      assert.match(
        d.stdout,
        new RegExp(`^detached tc_dispatch\\.bpf\\.o from ${net.peerIf} .*removed 7 pins`),
      );
      assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["egress:tc_port8080"], "the other attach stays");
      assert.equal(existsSync(dir), false);
    } finally {
      b.child.kill("SIGINT");
    }
    assert.equal(await b.exited, 0, b.stderr());
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
  } finally {
    if (existsSync(dir)) runCli(["down", "--pin", dir]);
    rmSync(dir, { recursive: true, force: true });
    net.remove();
  }
});

test("tc pipeline mistakes are one line each: an XDP entry on a tc hook, ip netns exec, no privilege", {
  skip,
}, async () => {
  const t = pipeline("n", "tcuser", (name, net) => tcYaml(name, net.peerIf, net.ns));
  const { net, name, dir, file } = t;
  try {
    // The seed's XDP programs on a tc hook, and a tc program as XDP: said before anything loads.
    oneLine(
      runCli([
        "up",
        pipelineFile(`${name}-xdp`, tcYaml(`${name}-xdp`, net.peerIf, net.ns, "tc-ingress", SEED)),
      ]),
      /^tsbpf: tcuser\d+-xdp\.yaml: the entry main_prog is a xdp program; attach\.hook tc-ingress runs tc \(sched_cls\) programs — hint: for an XDP program leave attach\.hook out/,
    );
    oneLine(
      runCli(["up", pipelineFile(`${name}-x`, tcYaml(`${name}-x`, net.peerIf, net.ns, "xdp"))]),
      /^tsbpf: tcuser\d+-x\.yaml: the entry tc_main is a sched_cls program; attach\.hook xdp runs XDP programs — hint: for a tc program write attach: \{hook: tc-ingress\}/,
    );
    // No privilege: one line, nothing attached.
    oneLine(runCli(["up", file], [...AS_NOBODY]), /^tsbpf: .*EPERM/);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
    // Inside `ip netns exec` a bpffs mounted for the pins would vanish with the command: refused.
    oneLine(
      runCli(["up", file], ["ip", "netns", "exec", net.ns]),
      new RegExp(
        `^tsbpf: no bpffs is mounted on /sys/fs/bpf in the private mount namespace of 'ip netns exec ${net.ns}'.* — hint: run 'tsbpf up --netns ${net.ns} \\.\\.\\.' from the host`,
      ),
    );
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
    oneLine(
      runCli(
        [
          ...[
            "attach",
            TC_DISPATCH,
            "--prog",
            "tc_main",
            "--iface",
            net.peerIf,
            "--tc",
            "ingress",
            "--pin",
            dir,
          ],
          ...["--tail", "prog_array:0=tc_port8080", "--tail", "prog_array:1=tc_port22"],
        ],
        ["ip", "netns", "exec", net.ns],
      ),
      /^tsbpf: no bpffs is mounted on \/sys\/fs\/bpf in the private mount namespace of 'ip netns exec /,
    );
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
    // Up from the host; then status, stats and down from inside `ip netns exec` and as nobody:
    // one line each saying why, and the pipeline runs on.
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    for (const cmd of ["status", "stats", "down"]) {
      oneLine(
        runCli([cmd, file], ["ip", "netns", "exec", net.ns]),
        new RegExp(
          `^tsbpf: no pinned pipeline at ${dir}: no such directory — hint: this process sees no bpffs there: it runs in the private mount namespace of 'ip netns exec ${net.ns}'`,
        ),
      );
      oneLine(runCli([cmd, file], [...AS_NOBODY]), /^tsbpf: /);
    }
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), ["ingress:tc_main"]);
    const down = runCli(["down", file]);
    assert.equal(down.status, 0, down.stderr);
    assert.deepEqual(tcxProgs(net.peerIf, net.ns), []);
    assert.equal(existsSync(ROOT), false);
  } finally {
    t.remove();
  }
});
