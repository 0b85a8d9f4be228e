/**
 * `tsbpf up`, `status` and `down` as a user runs them, on a veth pair whose far end is in a
 * network namespace of the test: the pipeline keeps handling real SYNs after `up` exited, status
 * reads what runs from the kernel, `up` again changes nothing, a changed attach point is refused while the
 * old pipeline runs on, and `down` leaves nothing in bpffs and nothing on the interface. Also:
 * `attach --pin` and `down --pin` share the layout; a pipeline of two objects; a failed `up`
 * leaves nothing behind; and the mistakes a new user makes give one line each.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import { TraceStream } from "../../src/kernel/trace-stream.js";
import { upPipeline } from "../../src/pipeline/deploy.js";
import { loadPipeline } from "../../src/pipeline/pipeline.js";
import {
  createVethNs,
  loadedProgramIds,
  programsHeldByProcesses,
  runCli,
  sendSyn,
  startCli,
  startProcess,
  traceLock,
  xdpProgIds,
  AS_NOBODY,
} from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const SEED = resolve("examples/tail-call/tail_call.bpf.o");
const skip =
  kernelSkipReason() ??
  (hasCommand("ip") && hasCommand("bpftool") && hasCommand("flock") && ensureBpffs()
    ? undefined
    : "needs ip (iproute2), bpftool, flock and a bpffs at /sys/fs/bpf");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tmp = mkdtempSync(join(tmpdir(), "tsbpf-up-"));
after(() => rmSync(tmp, { recursive: true, force: true }));
/** A bpffs directory of this test run: every pin dir below lives under it, and it must vanish. */
const ROOT = `/sys/fs/bpf/tsbpf-up-${process.pid}`;

function pipelineFile(name: string, text: string): string {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
}

const seedYaml = (name: string, iface: string, ns: string, slot1 = "port22_prog") => `name: ${name}
object: ${SEED}
entry: main_prog
slots:
  prog_array:
    0: port8080_prog
    1: ${slot1}
attach:
  iface: ${iface}
  netns: ${ns}
pin: ${ROOT}/${name}
`;

/** Loads the object named by its argument into the kernel and holds it until killed, as another process would. */
const BYSTANDER = `
const { readFileSync } = await import("node:fs");
const { Collection } = await import(${JSON.stringify(resolve("dist/src/collection.js"))});
const { loadCollectionSpec } = await import(${JSON.stringify(resolve("dist/src/object/load-collection-spec.js"))});
const file = process.argv[1];
const c = await Collection.load(loadCollectionSpec(new Uint8Array(readFileSync(file)), { file }), { backend: "kernel" });
console.log("loaded");
// Gone after two minutes whatever happens (the test kills it sooner).
setTimeout(() => { c.close(); process.exit(0); }, 120000);`;

/** The one stderr line of a failed command. */
function oneLine(r: { status: number | null; stderr: string }, status: number, re: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0] ?? "", re);
}

/** The bpf_printk messages of SYNs sent to `ports` of `ip` while this process watches. */
async function messagesFor(ip: string, ports: number[]): Promise<string[]> {
  const stop = new AbortController();
  const stream = TraceStream.open({ signal: stop.signal });
  const seen: string[] = [];
  const reading = (async () => {
    for await (const l of stream) seen.push(l.message);
  })();
  for (const port of ports) sendSyn(undefined, ip, port);
  await sleep(600);
  stop.abort();
  await reading;
  return seen.filter((m) => m.startsWith("Packet to port"));
}

const ifindexIn = (ns: string, iface: string): number =>
  JSON.parse(execFileSync("ip", ["-n", ns, "-j", "link", "show", "dev", iface], { encoding: "utf8" }))[0]
    .ifindex as number;

interface StatusJson {
  name: string;
  file: string;
  by: string;
  pinDir: string;
  upAt: string;
  running: boolean;
  current: boolean | null;
  hash: string;
  iface: string;
  ifindex: number;
  netns: string | null;
  mode: string;
  link: { id: number; programId: number };
  entry: { object: string; program: string; id: number };
  programs: { object: string; name: string; id: number }[];
  progArrays: {
    object: string;
    map: string;
    slots: { key: number; programId: number; object: string; program: string }[];
  }[];
  problems: string[];
}

function statusJson(args: string[]): StatusJson {
  const r = runCli(["status", ...args, "--json"]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusJson;
}

test("up puts the seed up for good, status shows it, up again changes nothing, a changed file is refused, down removes it all", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("p");
  const name = `seed${process.pid}`;
  const dir = `${ROOT}/${name}`;
  const file = pipelineFile(`${name}.yaml`, seedYaml(name, net.peerIf, net.ns));
  try {
    const before = Date.now();
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    assert.equal(up.stderr, "");
    const ifindex = ifindexIn(net.ns, net.peerIf);
    assert.match(
      up.stdout,
      new RegExp(
        `^up: ${name}: main_prog on ${net.peerIf} \\(netns ${net.ns}, ifindex ${ifindex}\\), mode native; slots: prog_array\\[0\\]=port8080_prog, prog_array\\[1\\]=port22_prog\npinned under ${dir}: it runs until 'tsbpf down .*${name}\\.yaml'; 'tsbpf status .*${name}\\.yaml' shows it\n$`,
      ),
    );
    // up has exited; the pipeline runs on, both stages reached through the pinned prog array.
    const [mainId] = xdpProgIds(net.peerIf, net.ns);
    assert.ok(mainId, "main_prog is attached in the namespace");
    assert.deepEqual(await messagesFor(net.peerIp, [8080, 22, 9999]), [
      "Packet to port 8080 processed",
      "Packet to port 22 processed",
    ]);
    for (const f of [
      "link",
      "meta",
      "main/maps/prog_array",
      "main/progs/main_prog",
      "main/progs/port22_prog",
    ])
      assert.ok(existsSync(`${dir}/${f}`), f);

    const s = statusJson([file]);
    assert.equal(s.name, name);
    assert.equal(s.file, file);
    assert.equal(s.by, "tsbpf up");
    assert.equal(s.pinDir, dir);
    assert.ok(Date.parse(s.upAt) >= before - 1000 && Date.parse(s.upAt) <= Date.now(), s.upAt);
    assert.deepEqual([s.running, s.current, s.problems], [true, true, []]);
    assert.match(s.hash, /^[0-9a-f]{64}$/);
    assert.deepEqual([s.iface, s.ifindex, s.netns, s.mode], [net.peerIf, ifindex, net.ns, "native"]);
    assert.deepEqual([s.entry.program, s.entry.id, s.link.programId], ["main_prog", mainId, mainId]);
    const ids = Object.fromEntries(s.programs.map((p) => [p.name, p.id]));
    assert.deepEqual(Object.keys(ids).sort(), ["main_prog", "port22_prog", "port8080_prog"]);
    const loaded = new Set(loadedProgramIds().map((p) => p.id));
    for (const id of Object.values(ids)) assert.ok(loaded.has(id), `program id ${id} is loaded`);
    assert.deepEqual(
      s.progArrays.map((a) => [a.map, a.slots.map((x) => [x.key, x.program, x.programId])]),
      [
        [
          "prog_array",
          [
            [0, "port8080_prog", ids.port8080_prog],
            [1, "port22_prog", ids.port22_prog],
          ],
        ],
      ],
    );
    const text = runCli(["status", "--pin", dir]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`^pipeline ${name}: running, up since ${s.upAt.replace(/\./g, "\\.")}`),
    );
    assert.match(text.stdout, new RegExp(`\n {4}\\[1\\] port22_prog \\(id ${ids.port22_prog}\\)\n`));

    // The same file again: nothing changes.
    const again = runCli(["up", file]);
    assert.equal(again.status, 0, again.stderr);
    assert.equal(
      again.stdout,
      `${name} is already up under ${dir} with the same content (since ${s.upAt}): nothing changed\n`,
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [mainId]);
    assert.equal(statusJson(["--pin", dir]).link.id, s.link.id);

    // A changed attach point is not an upgrade: refused, and the old pipeline runs on untouched.
    // (A changed file with the same attach point is an upgrade: upgrade-under-load.test.ts.)
    writeFileSync(
      file,
      seedYaml(name, net.peerIf, net.ns, "port8080_prog").replace(/(netns: .*\n)/, "$1  mode: generic\n"),
    );
    oneLine(
      runCli(["up", file]),
      2,
      new RegExp(
        `^tsbpf: ${dir} runs pipeline ${name} on ${net.peerIf} \\(netns ${net.ns}\\) in mode auto from \\S+; this one is ${name} on ${net.peerIf} \\(netns ${net.ns}\\) in mode generic: an upgrade keeps the name and the attach point, nothing was changed — hint: to move it, take it down first \\(tsbpf down --pin ${dir}\\)`,
      ),
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [mainId]);
    const changed = statusJson([file]);
    assert.deepEqual([changed.current, changed.running, changed.upAt], [false, true, s.upAt]);
    assert.equal(changed.progArrays[0]?.slots[1]?.program, "port22_prog");
    assert.deepEqual(await messagesFor(net.peerIp, [22]), ["Packet to port 22 processed"]);

    // Status reads the slots from the kernel, not from what was planned.
    execFileSync("bpftool", [
      "map",
      "delete",
      "pinned",
      `${dir}/main/maps/prog_array`,
      "key",
      "1",
      "0",
      "0",
      "0",
    ]);
    const emptied = statusJson(["--pin", dir]);
    assert.deepEqual(
      emptied.progArrays[0]?.slots.map((x) => x.key),
      [0],
    );
    assert.deepEqual(emptied.problems, ["prog_array[1] should hold port22_prog but is empty"]);

    const down = runCli(["down", file]);
    assert.equal(down.status, 0, down.stderr);
    assert.equal(
      down.stdout,
      `detached ${name} from ${net.peerIf} (netns ${net.ns}, ifindex ${ifindex}), and removed 7 pins and ${dir}\n`,
    );
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), [], "nothing attached to the interface");
    assert.doesNotMatch(
      execFileSync("ip", ["-n", net.ns, "link", "show", "dev", net.peerIf], { encoding: "utf8" }),
      /xdp/,
    );
    assert.equal(existsSync(ROOT), false, "down removed the directory up made above the pins");
    const left = new Set(loadedProgramIds().map((p) => p.id));
    assert.deepEqual(
      Object.values(ids).filter((id) => left.has(id)),
      [],
      "the pipeline's programs are unloaded",
    );
    oneLine(
      runCli(["status", file]),
      2,
      new RegExp(`^tsbpf: no pinned pipeline at ${dir}: no such directory$`),
    );
  } finally {
    if (existsSync(dir)) runCli(["down", "--pin", dir]);
    rmSync(ROOT, { recursive: true, force: true });
    net.remove();
    await unlock();
  }
});

test("attach --pin uses the same layout: status --pin shows it, down --pin takes it down", {
  skip,
}, async () => {
  const net = createVethNs("q");
  const dir = `${ROOT}-attach`;
  try {
    const p = startCli([
      "attach",
      SEED,
      "--prog",
      "main_prog",
      "--iface",
      net.peerIf,
      "--netns",
      net.ns,
      "--tail",
      "prog_array:0=port8080_prog",
      "--pin",
      dir,
    ]);
    await p.waitFor(/pinned under/);
    p.child.kill("SIGINT");
    assert.equal(await p.exited, 0, p.stderr());
    assert.deepEqual(readdirSync(dir).sort(), ["link", "main", "meta"]);
    assert.deepEqual(readdirSync(`${dir}/main/maps`).sort(), ["prog_array", "rodata"]);
    const s = statusJson(["--pin", dir]);
    assert.deepEqual(
      [s.name, s.by, s.file, s.running, s.current, s.netns, s.iface],
      ["tail_call.bpf.o", "tsbpf attach", SEED, true, null, net.ns, net.peerIf],
    );
    assert.deepEqual(
      s.progArrays[0]?.slots.map((x) => [x.key, x.program]),
      [[0, "port8080_prog"]],
    );
    const down = runCli(["down", "--pin", dir]);
    assert.equal(down.status, 0, down.stderr);
    assert.match(
      down.stdout,
      new RegExp(`^detached tail_call\\.bpf\\.o from ${net.peerIf} .*removed 7 pins`),
    );
    assert.equal(existsSync(dir), false);
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
  } finally {
    if (existsSync(dir)) runCli(["down", "--pin", dir]);
    rmSync(dir, { recursive: true, force: true });
    net.remove();
  }
});

test("a pipeline of two objects goes up with each object's pins apart, runs, and comes down", {
  skip,
}, async () => {
  const unlock = await traceLock();
  const net = createVethNs("r");
  const name = `two${process.pid}`;
  const dir = `${ROOT}/${name}`;
  const file = pipelineFile(
    `${name}.yaml`,
    `name: ${name}
objects:
  dispatch: ${SEED}
  stages: ${SEED}
entry: dispatch:main_prog
slots:
  dispatch:prog_array:
    0: stages:port8080_prog
    1: stages:port22_prog
attach:
  iface: ${net.peerIf}
  netns: ${net.ns}
pin: ${dir}
`,
  );
  try {
    const up = runCli(["up", file]);
    assert.equal(up.status, 0, up.stderr);
    assert.match(
      up.stdout,
      /slots: dispatch:prog_array\[0\]=stages:port8080_prog, dispatch:prog_array\[1\]=stages:port22_prog\n/,
    );
    // Two .rodata maps and two main_progs, each under its own object.
    for (const o of ["dispatch", "stages"]) {
      assert.deepEqual(readdirSync(`${dir}/${o}/maps`).sort(), ["prog_array", "rodata"]);
      assert.deepEqual(readdirSync(`${dir}/${o}/progs`).sort(), [
        "main_prog",
        "port22_prog",
        "port8080_prog",
      ]);
    }
    const s = statusJson([file]);
    assert.deepEqual(s.programs.map((p) => `${p.object}:${p.name}`).sort(), [
      "dispatch:main_prog",
      "dispatch:port22_prog",
      "dispatch:port8080_prog",
      "stages:main_prog",
      "stages:port22_prog",
      "stages:port8080_prog",
    ]);
    assert.deepEqual([s.entry.object, s.entry.program], ["dispatch", "main_prog"]);
    const stageIds = Object.fromEntries(
      s.programs.filter((p) => p.object === "stages").map((p) => [p.name, p.id]),
    );
    assert.deepEqual(
      s.progArrays.map((a) => [
        a.object,
        a.slots.map((x) => [x.key, `${x.object}:${x.program}`, x.programId]),
      ]),
      [
        [
          "dispatch",
          [
            [0, "stages:port8080_prog", stageIds.port8080_prog],
            [1, "stages:port22_prog", stageIds.port22_prog],
          ],
        ],
        ["stages", []],
      ],
    );
    const text = runCli(["status", file]);
    assert.match(
      text.stdout,
      /\n {2}dispatch:prog_array \(id \d+, 2 slots\):\n {4}\[0\] stages:port8080_prog/,
    );
    assert.deepEqual(await messagesFor(net.peerIp, [22, 8080]), [
      "Packet to port 22 processed",
      "Packet to port 8080 processed",
    ]);
    const down = runCli(["down", file]);
    assert.equal(down.status, 0, down.stderr);
    assert.match(down.stdout, /and removed 12 pins and /);
    assert.equal(existsSync(ROOT), false);
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
  } finally {
    if (existsSync(dir)) runCli(["down", "--pin", dir]);
    rmSync(ROOT, { recursive: true, force: true });
    net.remove();
    await unlock();
  }
});

test("a by_name map goes with the pipeline that pinned it; one that reused it leaves it", { skip }, (t) => {
  const shared = "/sys/fs/bpf/pinned_map";
  if (existsSync(shared)) {
    t.skip(`${shared} exists (another loader's by_name map): this test needs it absent`);
    return;
  }
  const net = createVethNs("n");
  const MAPS = resolve("test/bpf/fixtures/maps.bpf.o");
  const yaml = (name: string, iface: string, netns: string | undefined) => `name: ${name}
object: ${MAPS}
entry: use_maps
attach:
  iface: ${iface}
${netns === undefined ? "" : `  netns: ${netns}\n`}pin: ${ROOT}/${name}
`;
  const a = pipelineFile("byname-a.yaml", yaml("a", net.peerIf, net.ns));
  const b = pipelineFile("byname-b.yaml", yaml("b", net.hostIf, undefined));
  try {
    const upA = runCli(["up", a]);
    assert.equal(upA.status, 0, upA.stderr);
    assert.ok(existsSync(shared), "the loader pinned the by_name map");
    const sa = JSON.parse(runCli(["status", a, "--json"]).stdout) as { byName: unknown[] };
    assert.deepEqual(
      sa.byName.map((x) => ({ ...(x as object), mapId: 0 })),
      [{ path: shared, mapId: 0, created: true }],
    );
    // b reuses a's map through the pin.
    const upB = runCli(["up", b]);
    assert.equal(upB.status, 0, upB.stderr);
    const sb = JSON.parse(runCli(["status", b, "--json"]).stdout) as { byName: { created: boolean }[] };
    assert.deepEqual(
      sb.byName.map((x) => x.created),
      [false],
    );
    // Down in the order b, a: b keeps the pin it did not make, a removes the one it made.
    const downB = runCli(["down", b]);
    assert.equal(downB.status, 0, downB.stderr);
    assert.match(downB.stdout, new RegExp(`\nkept the by_name pins it did not create: ${shared}\n$`));
    assert.ok(existsSync(shared));
    const downA = runCli(["down", a]);
    assert.equal(downA.status, 0, downA.stderr);
    assert.doesNotMatch(downA.stdout, /kept/);
    assert.equal(existsSync(shared), false, "the by_name pin a made is gone with a");
    assert.equal(existsSync(ROOT), false);
  } finally {
    for (const f of [b, a])
      if (existsSync(`${ROOT}/${f.endsWith("a.yaml") ? "a" : "b"}`)) runCli(["down", f]);
    rmSync(ROOT, { recursive: true, force: true });
    net.remove();
  }
});

test("an up that fails leaves nothing behind: no pin, no program, nothing attached", { skip }, async () => {
  const unlock = await traceLock();
  const net = createVethNs("s");
  const name = `fail${process.pid}`;
  const dir = `${ROOT}/${name}`;
  let bystander: ReturnType<typeof startProcess> | undefined;
  // Another program holds the interface: up's attach fails after its load.
  const holder = startCli(["attach", SEED, "--prog", "main_prog", "--iface", net.peerIf, "--netns", net.ns]);
  try {
    await holder.waitFor(/^attached main_prog/m);
    const taken = xdpProgIds(net.peerIf, net.ns);
    assert.equal(taken.length, 1);
    const before = new Set(loadedProgramIds().map((p) => p.id));
    // Programs of the same names that other processes load meanwhile (a benchmark, another
    // worktree's run: the listing is the whole system's) are theirs, not a leftover of up: a
    // process holds them. One of those stands by here for the whole test.
    bystander = startProcess([process.execPath, "--input-type=module", "-e", BYSTANDER, SEED]);
    await bystander.waitFor(/^loaded$/m);
    const ours = () => {
      const held = programsHeldByProcesses();
      return loadedProgramIds().filter(
        (p) =>
          !before.has(p.id) &&
          !held.has(p.id) &&
          ["main_prog", "port8080_prog", "port22_prog"].includes(p.name ?? ""),
      );
    };
    assert.ok(
      loadedProgramIds().some((p) => !before.has(p.id) && p.name === "main_prog"),
      "the bystander's main_prog is in the listing",
    );
    const file = pipelineFile(`${name}.yaml`, seedYaml(name, net.peerIf, net.ns));
    oneLine(
      runCli(["up", file]),
      1,
      /^tsbpf: attach XDP link to ifindex \d+: EBUSY \(program main_prog\) — hint: an XDP program is already attached to this interface/,
    );
    assert.equal(existsSync(ROOT), false, "no pin directory");
    assert.deepEqual(ours(), [], "nothing of the pipeline is still loaded");
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), taken, "the program that was there stays");
    // An interface that is not there fails before anything is pinned, too.
    const typo = pipelineFile(`${name}-typo.yaml`, seedYaml(name, "nope0", net.ns));
    oneLine(
      runCli(["up", typo]),
      2,
      new RegExp(`^tsbpf: no network interface named "nope0" in network namespace '${net.ns}'`),
    );
    assert.equal(existsSync(ROOT), false);
    assert.deepEqual(ours(), []);
    // Interrupted (Ctrl+C in tsbpf up): nothing goes up.
    const free = pipelineFile(
      `${name}-free.yaml`,
      seedYaml(name, net.hostIf, net.ns).replace(/ {2}netns: .*\n/, ""),
    );
    await assert.rejects(upPipeline(await loadPipeline(free), { signal: AbortSignal.abort() }), {
      name: "UsageError",
      message: `interrupted: nothing was put up at ${dir}, and nothing is left behind`,
    });
    assert.equal(existsSync(ROOT), false);
    assert.deepEqual(xdpProgIds(net.hostIf), []);
    assert.deepEqual(ours(), []);
  } finally {
    bystander?.child.kill("SIGKILL");
    holder.child.kill("SIGINT");
    await holder.exited;
    if (existsSync(dir)) runCli(["down", "--pin", dir]);
    rmSync(ROOT, { recursive: true, force: true });
    net.remove();
    await unlock();
  }
});

test("a new user's mistakes each give one line: a typo'd path, an object, no root, a typo'd --netns, nothing up, ip netns exec", {
  skip: skip ?? (hasCommand("setpriv") ? undefined : "needs setpriv (util-linux) to drop privileges"),
}, () => {
  const net = createVethNs("t");
  const name = `user${process.pid}`;
  const dir = `${ROOT}/${name}`;
  // Readable by the unprivileged user too.
  const own = mkdtempSync(join(tmpdir(), "tsbpf-up-user-"));
  chmodSync(own, 0o755);
  const file = join(own, `${name}.yaml`);
  writeFileSync(file, seedYaml(name, net.peerIf, net.ns), { mode: 0o644 });
  try {
    const missing = join(own, "seeed.yaml");
    for (const cmd of ["up", "status", "down"]) {
      oneLine(runCli([cmd, missing]), 1, new RegExp(`^tsbpf: ${missing}: cannot read: no such file$`));
    }
    oneLine(
      runCli(["up", SEED]),
      2,
      /^tsbpf: up: .*tail_call\.bpf\.o is not a pipeline file \(\.yaml\) — hint: .*attach/,
    );
    const typo = `${net.ns}x`;
    const unknown = new RegExp(
      `^tsbpf: no network namespace named '${typo}' \\(/var/run/netns/${typo} does not exist\\)`,
    );
    for (const cmd of ["up", "status", "down"]) oneLine(runCli([cmd, file, "--netns", typo]), 2, unknown);
    oneLine(
      runCli(["status", file]),
      2,
      new RegExp(`^tsbpf: no pinned pipeline at ${dir}: no such directory$`),
    );
    oneLine(
      runCli(["down", "--pin", dir]),
      2,
      new RegExp(`^tsbpf: no pinned pipeline at ${dir}: no such directory$`),
    );
    oneLine(
      runCli(["up", file], [...AS_NOBODY]),
      1,
      /^tsbpf: .*EPERM.* — hint: needs root, or CAP_BPF with CAP_NET_ADMIN and CAP_PERFMON/,
    );
    // Inside `ip netns exec` a bpffs mounted for the pins would vanish with the command: refused.
    oneLine(
      runCli(["up", file], ["ip", "netns", "exec", net.ns]),
      2,
      new RegExp(
        `^tsbpf: no bpffs is mounted on /sys/fs/bpf in the private mount namespace of 'ip netns exec ${net.ns}', .* — hint: run 'tsbpf up --netns ${net.ns} \\.\\.\\.' from the host`,
      ),
    );
    assert.equal(existsSync(ROOT), false);
    assert.deepEqual(xdpProgIds(net.peerIf, net.ns), []);
  } finally {
    if (existsSync(dir)) runCli(["down", "--pin", dir]);
    rmSync(ROOT, { recursive: true, force: true });
    rmSync(own, { recursive: true, force: true });
    net.remove();
  }
});
