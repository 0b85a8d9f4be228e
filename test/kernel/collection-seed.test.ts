/**
 * The seed example loaded by the kernel engine and checked against the kernel itself: libbpf
 * (through `bpftool prog loadall`) must produce the same program tags and map names, bpftool must
 * see our func_info and line_info, and BPF_PROG_TEST_RUN must give the seed's verdicts and trace
 * lines.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { type KernelCollection, loadKernelCollection } from "../../src/kernel/kernel-collection.js";
import type { KernelXdpLink } from "../../src/kernel/kernel-link.js";
import { getMapInfo } from "../../src/kernel/object-ops.js";
import { loadCollectionSpec } from "../../src/object/load-collection-spec.js";
import type { CollectionSpec } from "../../src/object/types.js";
import { buildPacket } from "../../src/net/build.js";
import { ensureTracefs } from "../../src/kernel/mounts.js";
import { TracePipeReader } from "../../src/trace/trace-pipe.js";
import { traceLock } from "./attach-support.js";
import { ensureBpffs, hasCommand, kernelSkipReason } from "./support.js";

const skip = kernelSkipReason();
const seed = (): CollectionSpec =>
  loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o")), {
    file: "tail_call.bpf.o",
  });

const tcp = (dport: number) =>
  buildPacket([
    { kind: "eth", src: "02:00:00:00:00:01", dst: "02:00:00:00:00:02" },
    { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
    { kind: "tcp", sport: 40000, dport, flags: "S" },
  ]);
const packets: [string, Uint8Array, string[]][] = [
  ["TCP to 8080", tcp(8080), ["Packet to port 8080 processed"]],
  ["TCP to 22", tcp(22), ["Packet to port 22 processed"]],
  ["TCP to 9999", tcp(9999), []],
  [
    "UDP to 8080",
    buildPacket([
      { kind: "eth" },
      { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" },
      { kind: "udp", sport: 1, dport: 8080 },
    ]),
    [],
  ],
  ["ARP", buildPacket([{ kind: "eth" }, { kind: "arp", senderIp: "10.0.0.1", targetIp: "10.0.0.2" }]), []],
];

test("the seed dispatcher tail-calls per port, with the seed's trace lines", { skip }, async () => {
  const unlock = await traceLock(); // our runs print into the global trace pipe too
  const coll = await loadKernelCollection(seed());
  try {
    assert.equal(coll.backend, "kernel");
    assert.equal(coll.btfStatus, "loaded");
    const { prog_array } = coll.maps;
    const { main_prog, port8080_prog, port22_prog } = coll.programs;
    assert.ok(prog_array && main_prog && port8080_prog && port22_prog);
    prog_array.set(0, port8080_prog);
    prog_array.set(1, port22_prog);
    // The kernel reports the program id in a prog-array slot.
    const slot0 = prog_array.get(0);
    assert.ok(slot0);
    assert.equal(new DataView(slot0.buffer).getUint32(0, true), port8080_prog.info().id);
    for (const [what, pkt, trace] of packets) {
      const r = await main_prog.run(pkt);
      assert.equal(r.retval, 2, `${what}: XDP_PASS`);
      assert.deepEqual(r.trace, trace, what);
      assert.deepEqual(r.dataOut, pkt, `${what}: packet unchanged`);
    }
  } finally {
    coll.close();
    await unlock();
  }
});

test("in a pid namespace of its own (a container's, with its own /proc), run() still gets its trace lines", {
  skip: skip ?? (hasCommand("unshare") ? undefined : "needs unshare (util-linux) to make a pid namespace"),
}, async () => {
  // tracefs records the kernel's thread ids, which /proc in a pid namespace of its own does not
  // show: a filter by the id /proc shows matched nothing, and run() came back with no lines.
  const unlock = await traceLock();
  try {
    const url = (p: string) => pathToFileURL(resolve(`dist/src/${p}`)).href;
    const script = `
      import { readFileSync, readlinkSync } from "node:fs";
      import { loadCollectionSpec } from ${JSON.stringify(url("object/load-collection-spec.js"))};
      import { loadKernelCollection } from ${JSON.stringify(url("kernel/kernel-collection.js"))};
      import { buildPacket } from ${JSON.stringify(url("net/build.js"))};
      const c = await loadKernelCollection(loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"))));
      c.maps.prog_array.set(0, c.programs.port8080_prog);
      const pkt = buildPacket([{ kind: "eth" }, { kind: "ipv4", src: "10.0.0.1", dst: "10.0.0.2" }, { kind: "tcp", sport: 40000, dport: 8080, flags: "S" }]);
      const r = await c.programs.main_prog.run(pkt);
      console.log(JSON.stringify({ pid: process.pid, ns: readlinkSync("/proc/self/ns/pid"), trace: r.trace }));
      c.close();`;
    const r = spawnSync(
      "unshare",
      ["--pid", "--fork", "--mount-proc", process.execPath, "--input-type=module", "-e", script],
      { encoding: "utf8" },
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim()) as { pid: number; ns: string; trace: string[] };
    assert.equal(out.pid, 1, "the script ran as pid 1 of a new pid namespace");
    assert.notEqual(out.ns, readlinkSync("/proc/self/ns/pid"));
    assert.deepEqual(out.trace, ["Packet to port 8080 processed"]);
  } finally {
    await unlock();
  }
});

test("in a user namespace of its own (a rootless container's), a refused load says its capabilities do not count", {
  skip: skip ?? (hasCommand("unshare") ? undefined : "needs unshare (util-linux) to make a user namespace"),
}, () => {
  const url = (p: string) => pathToFileURL(resolve(`dist/src/${p}`)).href;
  const script = `
    import { readFileSync } from "node:fs";
    import { loadCollectionSpec } from ${JSON.stringify(url("object/load-collection-spec.js"))};
    import { loadKernelCollection } from ${JSON.stringify(url("kernel/kernel-collection.js"))};
    try {
      (await loadKernelCollection(loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o"))))).close();
      console.log(JSON.stringify({ loaded: true }));
    } catch (e) { console.log(JSON.stringify({ message: e.message, hint: e.hint })); }`;
  const r = spawnSync(
    "unshare",
    ["--user", "--map-root-user", process.execPath, "--input-type=module", "-e", script],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { loaded?: boolean; message?: string; hint?: string };
  assert.equal(out.loaded, undefined, "the kernel refused the load there");
  assert.match(out.message ?? "", /EPERM/);
  assert.match(
    out.hint ?? "",
    /only in a user namespace of its own \(a rootless container's\), which bpf\(\) does not count/,
  );
});

test("empty prog-array slots fall through to XDP_PASS without printing", { skip }, async () => {
  const unlock = await traceLock();
  const coll = await loadKernelCollection(seed());
  try {
    const main = coll.programs.main_prog;
    assert.ok(main);
    for (const [what, pkt] of packets) {
      const r = await main.run(pkt, { repeat: 3 });
      assert.equal(r.retval, 2, what);
      assert.deepEqual(r.trace, [], what);
    }
    // A filled slot 1 alone: 8080 still falls through, 22 jumps.
    coll.maps.prog_array?.set(1, coll.programs.port22_prog as NonNullable<typeof coll.programs.port22_prog>);
    assert.deepEqual((await main.run(tcp(8080))).trace, []);
    assert.deepEqual((await main.run(tcp(22))).trace, ["Packet to port 22 processed"]);
    // ingress_ifindex 1 (lo) and rx queue 0 go in through ctx_in.
    assert.equal((await main.run(tcp(9999), { ingressIfindex: 1, rxQueueIndex: 0 })).retval, 2);
  } finally {
    coll.close();
    await unlock();
  }
});

test("programs match what libbpf loads (tags), maps are named like libbpf's, .rodata is frozen", {
  skip:
    skip ?? (hasCommand("bpftool") && ensureBpffs() ? undefined : "needs bpftool and a bpffs at /sys/fs/bpf"),
}, async () => {
  const pin = `/sys/fs/bpf/tsbpf-coll-${process.pid}`;
  const coll = await loadKernelCollection(seed());
  try {
    execFileSync("bpftool", ["prog", "loadall", "examples/tail-call/tail_call.bpf.o", pin], {
      stdio: "pipe",
    });
    for (const name of ["main_prog", "port8080_prog", "port22_prog"]) {
      const theirs = JSON.parse(
        execFileSync("bpftool", ["-j", "prog", "show", "pinned", `${pin}/${name}`], { encoding: "utf8" }),
      );
      const ours = coll.programs[name]?.info();
      assert.ok(ours);
      assert.equal(ours.tag, theirs.tag, `${name}: same instructions as libbpf's load`);
      assert.equal(ours.name, theirs.name);
      assert.equal(ours.xlatedSize, theirs.bytes_xlated);
      const mine = JSON.parse(
        execFileSync("bpftool", ["-j", "prog", "show", "id", String(ours.id)], { encoding: "utf8" }),
      );
      assert.ok(mine.btf_id > 0, `${name} was loaded with BTF`);
      // func_info and line_info made it into the kernel: bpftool prints the function and C lines.
      const dump = execFileSync("bpftool", ["prog", "dump", "xlated", "id", String(ours.id), "linum"], {
        encoding: "utf8",
      });
      assert.match(dump, new RegExp(`int ${name}\\(struct xdp_md \\* ctx\\):`));
      for (const li of coll.spec.programs[name]?.lineInfo ?? []) {
        assert.ok(
          dump.includes(`line_num:${li.lineNumber} line_col:${li.column}]`),
          `${name}: line ${li.lineNumber}`,
        );
      }
      const theirMaps = (theirs.map_ids as number[]).map(
        (id) =>
          JSON.parse(execFileSync("bpftool", ["-j", "map", "show", "id", String(id)], { encoding: "utf8" }))
            .name,
      );
      const ourMaps = (mine.map_ids as number[]).map(
        (id) =>
          JSON.parse(execFileSync("bpftool", ["-j", "map", "show", "id", String(id)], { encoding: "utf8" }))
            .name,
      );
      assert.deepEqual(ourMaps.sort(), theirMaps.sort(), `${name}: map names`);
    }
    const rodata = coll.maps[".rodata"];
    assert.ok(rodata);
    assert.equal(rodata.kernelName, "tail_cal.rodata");
    // Not mmap()able: it holds printk formats only, no global variable, as libbpf decides
    // (map_is_mmapable: bench/c/loader.c's MAP_CREATE of it, under strace, has these flags too).
    assert.equal(getMapInfo(coll.sys, rodata.fd).flags, 0x80, "BPF_F_RDONLY_PROG");
    const v = rodata.get(0);
    assert.ok(v);
    assert.equal(new TextDecoder().decode(v.subarray(0, 29)), "Packet to port 8080 processed");
    assert.throws(() => rodata.set(0, new Uint8Array(rodata.spec.valueSize)), { name: "MapError", errno: 1 });
  } finally {
    coll.close();
    rmSync(pin, { recursive: true, force: true });
  }
});

const pinSkip = skip ?? (ensureBpffs() ? undefined : "needs a bpffs at /sys/fs/bpf");

/**
 * The seed loaded with slot 0 filled and main_prog attached (generic) to a fresh veth through a
 * link pinned at `/sys/fs/bpf/<tag>-<pid>`; `body` gets the pieces, cleanup removes them all.
 */
async function withPinnedSeed(
  tag: string,
  body: (x: {
    coll: KernelCollection;
    link: KernelXdpLink;
    warnings: string[];
    dev: string;
  }) => Promise<void> | void,
): Promise<void> {
  const dev = `${tag.slice(0, 3)}${process.pid % 100000}`;
  const pin = `/sys/fs/bpf/${tag}-${process.pid}`;
  spawnSync("ip", ["link", "del", dev], { stdio: "ignore" });
  execFileSync("ip", ["link", "add", dev, "type", "veth", "peer", "name", `${dev}p`]);
  const warnings: string[] = [];
  const coll = await loadKernelCollection(seed(), { onWarning: (m) => warnings.push(m) });
  try {
    const { prog_array } = coll.maps;
    const { main_prog, port8080_prog } = coll.programs;
    assert.ok(prog_array && main_prog && port8080_prog);
    prog_array.set(0, port8080_prog);
    const link = await main_prog.attachXdp({ iface: dev, mode: "generic" });
    assert.equal(link.method, "link");
    link.pin(pin);
    await body({ coll, link, warnings, dev });
  } finally {
    coll.close();
    rmSync(pin, { force: true });
    spawnSync("ip", ["link", "del", dev], { stdio: "ignore" });
  }
}

/** Whether `dev` still has an XDP program (here: through the pinned link). */
function stillAttached(dev: string): boolean {
  const shown = JSON.parse(
    execFileSync("ip", ["-j", "-d", "link", "show", "dev", dev], { encoding: "utf8" }),
  );
  return Boolean(shown[0]?.xdp);
}

test("close() warns before it empties a prog array that a pinned XDP link still uses", {
  skip: pinSkip,
}, async () => {
  await withPinnedSeed("tsbpf-warn", ({ coll, warnings, dev }) => {
    coll.close();
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0] ?? "",
      /closing prog array prog_array with filled slots \[0\].*main_prog at .*tsbpf-warn/,
    );
    // The pin kept the program attached; the prog array is gone with its slots.
    assert.ok(stillAttached(dev), "still attached through the pinned link");
  });
});

test("close() still warns when the pinned link was closed first (await using link ends before the collection)", {
  skip: pinSkip,
}, async () => {
  await withPinnedSeed("tsbpf-warn2", ({ coll, link, warnings, dev }) => {
    link.close(); // only our fd: the pin keeps main_prog attached
    assert.equal(link.closed, true);
    assert.equal(link.detached, false);
    coll.close();
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0] ?? "",
      /closing prog array prog_array with filled slots \[0\].*main_prog at .*tsbpf-warn2/,
    );
    assert.ok(stillAttached(dev), "still attached through the pinned link");
  });
});

test("run() collects its trace lines without taking them from trace_pipe readers", { skip }, async () => {
  const unlock = await traceLock();
  const coll = await loadKernelCollection(seed());
  try {
    const { prog_array } = coll.maps;
    const { main_prog, port22_prog } = coll.programs;
    assert.ok(prog_array && main_prog && port22_prog);
    prog_array.set(1, port22_prog);
    const stop = new AbortController();
    const seen: { pid: number; message: string }[] = [];
    const reading = (async () => {
      for await (const l of new TracePipeReader({ dir: ensureTracefs(), signal: stop.signal })) seen.push(l);
    })();
    await new Promise((r) => setTimeout(r, 100));
    const r = await main_prog.run(tcp(22));
    assert.deepEqual(r.trace, ["Packet to port 22 processed"]);
    await new Promise((r) => setTimeout(r, 300));
    stop.abort();
    await reading;
    assert.ok(
      seen.some((l) => l.pid === process.pid && l.message === "Packet to port 22 processed"),
      "the global trace_pipe still got the line",
    );
  } finally {
    coll.close();
    await unlock();
  }
});

test("the private trace instance is removed when the process exits", { skip }, () => {
  const url = (p: string) => pathToFileURL(resolve(`dist/src/${p}`)).href;
  const script = `
    import { loadCollectionSpec } from ${JSON.stringify(url("object/load-collection-spec.js"))};
    import { loadKernelCollection } from ${JSON.stringify(url("kernel/kernel-collection.js"))};
    import { readFileSync, readdirSync } from "node:fs";
    const spec = loadCollectionSpec(new Uint8Array(readFileSync("examples/tail-call/tail_call.bpf.o")));
    const c = await loadKernelCollection(spec);
    await c.programs.main_prog.run(new Uint8Array(64));
    console.log(readdirSync("/sys/kernel/tracing/instances").filter((n) => n.startsWith("tsbpf-" + process.pid)).length);
    c.close();`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "1", "one instance while running");
  const left = readdirSync("/sys/kernel/tracing/instances").filter((n) => n.startsWith(`tsbpf-${r.pid}-`));
  assert.deepEqual(left, []);
});
