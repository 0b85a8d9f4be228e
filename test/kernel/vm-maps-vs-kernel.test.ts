/**
 * The VM's maps against the running kernel: the same map is created in both, the same sequence of
 * updates, lookups, deletes and GET_NEXT_KEYs is applied through bpftool and through the VM map,
 * and every step must succeed or fail alike (same errno), and the contents must end up equal.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BpfProgram } from "../../src/backend/types.js";
import { isMapError } from "../../src/errors.js";
import { hostPossibleCpus as possibleCpus } from "../../src/backend/possible-cpus.js";
import type { MapSpec, ProgramSpec } from "../../src/object/types.js";
import { Errno, MapFlag, perCpuValueStride, MapType, ProgType } from "../../src/abi/index.js";
import { createVmMap, type HashMap, markVmObject, type VmMapBase } from "../../src/vm/maps/index.js";
import { mapSpec as spec } from "../support/specs.js";
import { ensureBpffs, hasCommand } from "./support.js";

// ---------- environment ----------

function skipReason(): string | undefined {
  if (process.platform !== "linux") return `needs Linux (this is ${process.platform})`;
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "needs root: creates BPF maps";
  if (!hasCommand("bpftool")) return "needs bpftool on PATH";
  if (!ensureBpffs()) return "needs a bpffs at /sys/fs/bpf (mount failed)";
  return undefined;
}

const SKIP = skipReason();
const PIN_DIR = `/sys/fs/bpf/tsbpf-test-vmmaps-${process.pid}`;

// ---------- bpftool ----------

/** strerror texts bpftool prints, to the errno they stand for. */
const STRERROR: Record<string, number> = {
  "Operation not permitted": Errno.EPERM,
  "No such file or directory": Errno.ENOENT,
  "Argument list too long": Errno.E2BIG,
  "Bad file descriptor": Errno.EBADF,
  "Resource temporarily unavailable": Errno.EAGAIN,
  "Cannot allocate memory": Errno.ENOMEM,
  "Device or resource busy": Errno.EBUSY,
  "File exists": Errno.EEXIST,
  "Invalid argument": Errno.EINVAL,
  "Operation not supported": Errno.EOPNOTSUPP,
  "Unknown error 524": Errno.ENOTSUPP,
};

interface ToolResult {
  /** 0 on success, else the errno parsed from bpftool's message. */
  errno: number;
  json: unknown;
}

/** Runs bpftool in JSON mode on CPU 0 (so the kernel's per-CPU LRU lists behave deterministically). */
function bpftool(...args: string[]): ToolResult {
  const r = spawnSync("taskset", ["-c", "0", "bpftool", "-j", ...args], { encoding: "utf8" });
  const out = r.stdout.trim();
  const json: unknown = out === "" ? null : JSON.parse(out);
  if (json !== null && typeof json === "object" && "error" in json) {
    const msg = String((json as { error: string }).error);
    const m = /: ([^:]+)$/.exec(msg);
    const errno = m ? STRERROR[m[1] as string] : undefined;
    if (errno === undefined) throw new Error(`bpftool ${args.join(" ")}: unparsed error: ${msg}`);
    return { errno, json };
  }
  // A lookup of an absent key prints `null` and exits non-zero.
  if (r.status !== 0) {
    if (json === null && args[1] === "lookup") return { errno: Errno.ENOENT, json };
    throw new Error(`bpftool ${args.join(" ")}: exit ${r.status}: ${r.stderr}`);
  }
  return { errno: 0, json };
}

const hexArgs = (b: Uint8Array): string[] => ["hex", ...[...b].map((x) => x.toString(16).padStart(2, "0"))];
const fromJsonBytes = (a: unknown): Uint8Array =>
  Uint8Array.from((a as string[]).map((s) => Number.parseInt(s, 16)));
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

// ---------- maps in both engines ----------

interface Pair {
  pin: string;
  vm: VmMapBase;
  spec: MapSpec;
}

function createBoth(s: MapSpec, ncpus: number, extra: string[] = []): Pair {
  const pin = `${PIN_DIR}/${s.name}`;
  const r = bpftool(
    "map",
    "create",
    pin,
    "type",
    s.typeName,
    "key",
    String(s.keySize),
    "value",
    String(s.valueSize),
    "entries",
    String(s.maxEntries),
    "name",
    s.name,
    ...extra,
  );
  assert.equal(r.errno, 0, `bpftool map create ${s.name}`);
  return { pin, vm: createVmMap(s, { possibleCpus: ncpus, littleEndian: true }), spec: s };
}

const u32 = (n: number): Uint8Array => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
};
const u64 = (n: number): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};

const FLAG = { any: 0n, noexist: 1n, exist: 2n } as const;
type FlagName = keyof typeof FLAG;

type Op =
  | { op: "update"; key: Uint8Array; value: Uint8Array; flag?: FlagName }
  | { op: "lookup"; key: Uint8Array }
  | { op: "delete"; key: Uint8Array }
  | { op: "getnext"; key?: Uint8Array };

/** What one step did: errno (0 = success) and, for lookups and getnext, the data. */
interface Outcome {
  errno: number;
  data?: string[];
}

function vmErrno(fn: () => void): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (isMapError(e) && e.errno !== undefined) return e.errno;
    throw e;
  }
}

/** Splits a per-CPU user-space value into each CPU's value (hex). */
function perCpuHex(p: Pair, all: Uint8Array): string[] {
  if (!p.vm.perCpu) return [hex(all)];
  const stride = perCpuValueStride(p.spec.valueSize);
  const out: string[] = [];
  for (let c = 0; c < p.vm.possibleCpus; c++)
    out.push(hex(all.subarray(c * stride, c * stride + p.spec.valueSize)));
  return out;
}

function kernelValues(row: Record<string, unknown>, idValues: boolean): string[] {
  if (idValues) return ["<id>"];
  if ("values" in row) {
    return (row.values as { value: unknown }[]).map((v) => hex(fromJsonBytes(v.value)));
  }
  return [hex(fromJsonBytes(row.value))];
}

function runKernel(p: Pair, o: Op, idValues: boolean, valueArgs?: string[]): Outcome {
  switch (o.op) {
    case "update": {
      const v = valueArgs ?? hexArgs(o.value);
      return {
        errno: bpftool(
          "map",
          "update",
          "pinned",
          p.pin,
          "key",
          ...hexArgs(o.key),
          "value",
          ...v,
          o.flag ?? "any",
        ).errno,
      };
    }
    case "lookup": {
      const r = bpftool("map", "lookup", "pinned", p.pin, "key", ...hexArgs(o.key));
      if (r.errno !== 0) return { errno: r.errno };
      return { errno: 0, data: kernelValues(r.json as Record<string, unknown>, idValues) };
    }
    case "delete":
      return { errno: bpftool("map", "delete", "pinned", p.pin, "key", ...hexArgs(o.key)).errno };
    case "getnext": {
      const r = bpftool("map", "getnext", "pinned", p.pin, ...(o.key ? ["key", ...hexArgs(o.key)] : []));
      if (r.errno !== 0) return { errno: r.errno };
      return { errno: 0, data: [hex(fromJsonBytes((r.json as { next_key: unknown }).next_key))] };
    }
  }
}

function runVm(p: Pair, o: Op, idValues: boolean, value?: unknown): Outcome {
  switch (o.op) {
    case "update": {
      const flags = FLAG[o.flag ?? "any"];
      if (value !== undefined) return { errno: vmErrno(() => p.vm.set(o.key, value as BpfProgram, flags)) };
      // bpftool gives one value to every CPU; the raw API takes them all.
      let raw = o.value;
      if (p.vm.perCpu) {
        raw = new Uint8Array(p.vm.valueBufferSize);
        for (let c = 0; c < p.vm.possibleCpus; c++) raw.set(o.value, c * perCpuValueStride(p.spec.valueSize));
      }
      return { errno: vmErrno(() => p.vm.update(o.key, raw, flags)) };
    }
    case "lookup": {
      let v: Uint8Array | undefined;
      const errno = vmErrno(() => {
        v = p.vm.lookup(o.key);
      });
      if (errno !== 0) return { errno };
      if (v === undefined) return { errno: Errno.ENOENT };
      return { errno: 0, data: idValues ? ["<id>"] : perCpuHex(p, v) };
    }
    case "delete":
      return { errno: vmErrno(() => p.vm.delete(o.key)) };
    case "getnext": {
      let k: Uint8Array | undefined;
      const errno = vmErrno(() => {
        k = p.vm.getNextKey(o.key);
      });
      return errno !== 0 ? { errno } : { errno: 0, data: [hex(k as Uint8Array)] };
    }
  }
}

/** Applies `ops` to both engines, asserting the same outcome at every step. */
function same(p: Pair, ops: Op[], idValues = false): void {
  ops.forEach((o, i) => {
    const k = runKernel(p, o, idValues);
    const v = runVm(p, o, idValues);
    const what = `${p.spec.name} step ${i}: ${o.op} ${"key" in o && o.key ? hex(o.key) : ""} ${"flag" in o ? (o.flag ?? "any") : ""}`;
    assert.deepEqual(v, k, what);
  });
}

/** The whole contents, key hex → per-CPU value hex, order-independent. */
function contentsOf(p: Pair, idValues = false): { kernel: string[]; vm: string[] } {
  const dump = bpftool("map", "dump", "pinned", p.pin);
  assert.equal(dump.errno, 0);
  const kernel = (dump.json as Record<string, unknown>[])
    .map((row) => `${hex(fromJsonBytes(row.key))}=${kernelValues(row, idValues).join(",")}`)
    .sort();
  const vm = [...p.vm.entries()]
    .map(([k, v]) => `${hex(k)}=${idValues ? "<id>" : perCpuHex(p, v).join(",")}`)
    .sort();
  return { kernel, vm };
}

function assertSameContents(p: Pair, idValues = false): void {
  const { kernel, vm } = contentsOf(p, idValues);
  assert.deepEqual(vm, kernel, `${p.spec.name}: contents`);
}

function withPins(fn: () => void): void {
  rmSync(PIN_DIR, { recursive: true, force: true });
  mkdirSync(PIN_DIR, { recursive: true });
  try {
    fn();
  } finally {
    rmSync(PIN_DIR, { recursive: true, force: true });
  }
}

// ---------- the sequences ----------

const up = (key: Uint8Array, value: Uint8Array, flag?: FlagName): Op =>
  flag === undefined ? { op: "update", key, value } : { op: "update", key, value, flag };
const look = (key: Uint8Array): Op => ({ op: "lookup", key });
const del = (key: Uint8Array): Op => ({ op: "delete", key });
const next = (key?: Uint8Array): Op => (key === undefined ? { op: "getnext" } : { op: "getnext", key });

test("array and percpu_array behave as the kernel's", (t) => {
  if (SKIP) return t.skip(SKIP);
  const ncpus = possibleCpus();
  withPins(() => {
    for (const type of [MapType.array, MapType.percpu_array]) {
      const p = createBoth(spec(type === MapType.array ? "arr" : "pcpu_arr", type, 4, 12, 4), ncpus);
      const val = (n: number) => Uint8Array.from({ length: 12 }, (_, i) => (n + i) & 0xff);
      same(p, [
        up(u32(0), val(1)),
        up(u32(3), val(2), "exist"),
        up(u32(1), val(3), "noexist"),
        up(u32(4), val(4)),
        up(u32(4), val(4), "noexist"),
        up(u32(0xffffffff), val(5), "exist"),
        look(u32(0)),
        look(u32(2)),
        look(u32(4)),
        del(u32(0)),
        del(u32(9)),
        next(),
        next(u32(1)),
        next(u32(3)),
        next(u32(77)),
      ]);
      assertSameContents(p);
    }
  });
});

test("hash and percpu_hash: flags, full maps, deletes, iteration", (t) => {
  if (SKIP) return t.skip(SKIP);
  const ncpus = possibleCpus();
  withPins(() => {
    for (const type of [MapType.hash, MapType.percpu_hash]) {
      const p = createBoth(spec(type === MapType.hash ? "h" : "pcpu_h", type, 4, 8, 4), ncpus);
      same(p, [
        up(u32(10), u64(1)),
        up(u32(10), u64(2), "noexist"),
        up(u32(11), u64(3), "exist"),
        up(u32(11), u64(3), "noexist"),
        up(u32(10), u64(4), "exist"),
        up(u32(12), u64(5)),
        up(u32(13), u64(6)),
        up(u32(14), u64(7)),
        up(u32(14), u64(7), "noexist"),
        up(u32(13), u64(8), "any"),
        look(u32(10)),
        look(u32(14)),
        del(u32(14)),
        del(u32(12)),
        up(u32(14), u64(9), "noexist"),
      ]);
      assertSameContents(p);
      // With a key that is not in the map, GET_NEXT_KEY restarts: it gives the engine's first key.
      const kFirst = runKernel(p, next(), false);
      assert.deepEqual(runKernel(p, next(u32(999)), false), kFirst);
      const vFirst = runVm(p, next(), false);
      assert.deepEqual(runVm(p, next(u32(999)), false), vFirst);
      assert.equal(vFirst.errno, 0);
      // Walking GET_NEXT_KEY from nothing visits every key once, then ENOENT, on both engines.
      const walk = (getNext: (k?: Uint8Array) => Uint8Array | undefined): string[] => {
        const seen: string[] = [];
        let k = getNext();
        while (k !== undefined && seen.length < 10) {
          seen.push(hex(k));
          k = getNext(k);
        }
        return seen.sort();
      };
      const kernelWalk = walk((k) => {
        const r = bpftool("map", "getnext", "pinned", p.pin, ...(k ? ["key", ...hexArgs(k)] : []));
        return r.errno === 0 ? fromJsonBytes((r.json as { next_key: unknown }).next_key) : undefined;
      });
      const vmWalk = walk((k) => {
        try {
          return p.vm.getNextKey(k);
        } catch {
          return undefined;
        }
      });
      assert.deepEqual(vmWalk, kernelWalk);
    }
  });
});

test("lru_hash evicts what the kernel evicts (updates from one CPU), including its flag quirks", (t) => {
  if (SKIP) return t.skip(SKIP);
  const ncpus = possibleCpus();
  withPins(() => {
    const p = createBoth(spec("lru", MapType.lru_hash, 4, 8, 4), ncpus);
    const ops: Op[] = [];
    for (let i = 1; i <= 10; i++) ops.push(up(u32(i), u64(i * 100)));
    same(p, ops);
    assertSameContents(p);
    // A full LRU hash frees an element before it looks at the key: EXIST on the oldest key evicts
    // that very key and then fails with ENOENT; NOEXIST on a present key evicts and fails.
    same(p, [
      up(u32(7), u64(1), "exist"),
      up(u32(99), u64(1), "exist"),
      up(u32(7), u64(2), "noexist"),
      up(u32(7), u64(3), "noexist"),
      up(u32(8), u64(4)),
      up(u32(11), u64(5)),
      up(u32(12), u64(6)),
      look(u32(8)),
    ]);
    assertSameContents(p);
  });
});

test("lru_percpu_hash: BPF_EXIST updates in place without evicting", (t) => {
  if (SKIP) return t.skip(SKIP);
  const ncpus = possibleCpus();
  withPins(() => {
    const p = createBoth(spec("lru_pcpu", MapType.lru_percpu_hash, 4, 4, 4), ncpus);
    const ops: Op[] = [];
    for (let i = 1; i <= 6; i++) ops.push(up(u32(i), u32(i)));
    ops.push(up(u32(3), u32(33), "exist"), up(u32(50), u32(1), "exist"), up(u32(4), u32(44), "noexist"));
    ops.push(up(u32(60), u32(6)), up(u32(61), u32(6)));
    same(p, ops);
    assertSameContents(p);
  });
});

/** A stand-in for a loaded program: the prog array only looks at its type. */
function fakeProgram(name: string, progType: number): BpfProgram {
  const s = { name, type: progType } as unknown as ProgramSpec;
  const p: BpfProgram = { name, spec: s, run: () => Promise.reject(new Error("not runnable")) };
  markVmObject(p); // stands in for a program the VM loaded
  return p;
}

/** Raw BPF_MAP_UPDATE_ELEM with an arbitrary fd as the value, which bpftool refuses to send. */
function rawFdUpdate(mapPin: string, valuePin: string | undefined, badFd: number): number {
  const script = `
import ctypes, os, sys, platform
libc = ctypes.CDLL(None, use_errno=True)
NR = {"x86_64": 321, "aarch64": 280}[platform.machine()]
def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    r = libc.syscall(NR, cmd, buf, 128)
    return r if r >= 0 else -ctypes.get_errno()
def obj_get(path):
    p = ctypes.create_string_buffer(path.encode())
    return bpf(7, ctypes.addressof(p).to_bytes(8, "little") + bytes(8))
mfd = obj_get(sys.argv[1])
vfd = obj_get(sys.argv[2]) if sys.argv[2] else int(sys.argv[3])
key = ctypes.create_string_buffer(bytes(4), 4)
val = ctypes.create_string_buffer(vfd.to_bytes(4, "little"), 4)
attr = mfd.to_bytes(4, "little") + bytes(4) + ctypes.addressof(key).to_bytes(8, "little") + ctypes.addressof(val).to_bytes(8, "little") + bytes(8)
print(bpf(2, attr))
`;
  const r = spawnSync("python3", ["-c", script, mapPin, valuePin ?? "", String(badFd)], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return -Number(r.stdout.trim());
}

test("prog_array: BPF_ANY only, E2BIG, owner program type, empty slots", (t) => {
  if (SKIP) return t.skip(SKIP);
  const obj = resolve("test/bpf/vm-maps/tail-targets.bpf.o");
  const ncpus = possibleCpus();
  withPins(() => {
    const progs = `${PIN_DIR}/progs`;
    const load = spawnSync("bpftool", ["prog", "loadall", obj, progs], { encoding: "utf8" });
    assert.equal(load.status, 0, load.stderr);
    const p = createBoth(spec("jmp", MapType.prog_array, 4, 4, 4), ncpus);
    const xdp = fakeProgram("xdp_pass", ProgType.xdp);
    const sock = fakeProgram("sock_keep", ProgType.socket_filter);
    const steps: { op: Op; kernelValue?: string[]; vmValue?: BpfProgram }[] = [
      { op: up(u32(0), u32(0)), kernelValue: ["pinned", `${progs}/xdp_pass`], vmValue: xdp },
      { op: up(u32(1), u32(0), "noexist"), kernelValue: ["pinned", `${progs}/xdp_pass`], vmValue: xdp },
      { op: up(u32(1), u32(0), "exist"), kernelValue: ["pinned", `${progs}/xdp_pass`], vmValue: xdp },
      { op: up(u32(4), u32(0)), kernelValue: ["pinned", `${progs}/xdp_pass`], vmValue: xdp },
      { op: up(u32(2), u32(0)), kernelValue: ["pinned", `${progs}/sock_keep`], vmValue: sock },
      { op: up(u32(3), u32(0)), kernelValue: ["pinned", `${progs}/xdp_pass`], vmValue: xdp },
      { op: look(u32(0)) },
      { op: look(u32(2)) },
      { op: look(u32(7)) },
      { op: del(u32(2)) },
      { op: del(u32(9)) },
      { op: del(u32(3)) },
      { op: next(u32(3)) },
      { op: next() },
    ];
    steps.forEach((s, i) => {
      const k = runKernel(p, s.op, true, s.kernelValue);
      const v = runVm(p, s.op, true, s.vmValue);
      assert.deepEqual(v, k, `prog_array step ${i}`);
    });
    assertSameContents(p, true);
    if (!hasCommand("python3"))
      return t.skip("needs python3 to send a raw map fd / closed fd into the prog array");
    // A map's fd is not a program (EINVAL); a closed fd is EBADF. The VM's handles act alike.
    const other = createBoth(spec("not_prog", MapType.array, 4, 8, 1), ncpus);
    assert.equal(rawFdUpdate(p.pin, other.pin, 0), Errno.EINVAL);
    assert.equal(
      vmErrno(() => p.vm.update(u32(0), u32(other.vm.handle))),
      Errno.EINVAL,
    );
    assert.equal(rawFdUpdate(p.pin, undefined, 987654), Errno.EBADF);
    assert.equal(
      vmErrno(() => p.vm.update(u32(0), u32(987654))),
      Errno.EBADF,
    );
  });
});

test("hash_of_maps: inner map must match the template; hash flag rules apply", (t) => {
  if (SKIP) return t.skip(SKIP);
  const ncpus = possibleCpus();
  withPins(() => {
    const inner = createBoth(spec("inner", MapType.array, 4, 8, 4), ncpus);
    const inner2 = createBoth(spec("inner2", MapType.array, 4, 8, 4), ncpus);
    const wide = createBoth(spec("wide", MapType.array, 4, 16, 4), ncpus);
    const outerSpec = { ...spec("outer", MapType.hash_of_maps, 4, 4, 2), innerMap: inner.spec };
    const p = createBoth(outerSpec, ncpus, ["inner_map", "pinned", inner.pin]);
    const steps: { op: Op; k?: Pair }[] = [
      { op: up(u32(1), u32(0)), k: wide },
      { op: up(u32(1), u32(0)), k: inner },
      { op: up(u32(1), u32(0), "noexist"), k: inner2 },
      { op: up(u32(2), u32(0), "exist"), k: inner2 },
      { op: up(u32(2), u32(0), "noexist"), k: inner2 },
      { op: up(u32(3), u32(0)), k: inner },
      { op: up(u32(1), u32(0), "exist"), k: inner2 },
      { op: look(u32(1)) },
      { op: look(u32(3)) },
      { op: del(u32(3)) },
      { op: del(u32(2)) },
      { op: next(u32(42)) },
    ];
    steps.forEach((s, i) => {
      const kv = s.k ? ["pinned", s.k.pin] : undefined;
      const k = runKernel(p, s.op, true, kv);
      const v = runVm(p, s.op, true, s.k?.vm);
      assert.deepEqual(v, k, `hash_of_maps step ${i}`);
    });
    assertSameContents(p, true);
    // The id user space reads back names the inner map that was stored.
    const id = p.vm.lookup(u32(1));
    assert.ok(id);
    assert.equal(new DataView(id.buffer).getUint32(0, true), inner2.vm.handle);
  });
});

test("ringbuf refuses element operations with ENOTSUPP, like the kernel", (t) => {
  if (SKIP) return t.skip(SKIP);
  withPins(() => {
    const s = spec("rb", MapType.ringbuf, 0, 0, 4096);
    const p = createBoth(s, possibleCpus());
    const k = bpftool("map", "getnext", "pinned", p.pin);
    assert.equal(k.errno, Errno.ENOTSUPP);
    assert.equal(
      vmErrno(() => p.vm.getNextKey(undefined)),
      Errno.ENOTSUPP,
    );
    assert.equal(
      vmErrno(() => p.vm.lookup(new Uint8Array(0))),
      Errno.ENOTSUPP,
    );
    // The kernel refuses a ring that is not a power-of-2 multiple of the page size.
    const bad = bpftool(
      "map",
      "create",
      `${PIN_DIR}/rb2`,
      "type",
      "ringbuf",
      "key",
      "0",
      "value",
      "0",
      "entries",
      "12288",
      "name",
      "rb2",
    );
    assert.equal(bad.errno, Errno.EINVAL);
    assert.equal(
      vmErrno(() =>
        createVmMap(spec("rb2", MapType.ringbuf, 0, 0, 12288), { possibleCpus: 1, littleEndian: true }),
      ),
      Errno.EINVAL,
    );
  });
});

test("a frozen map refuses user-space writes with EPERM", (t) => {
  if (SKIP) return t.skip(SKIP);
  withPins(() => {
    const p = createBoth(spec("frz", MapType.array, 4, 4, 2), possibleCpus());
    same(p, [up(u32(0), u32(5))]);
    assert.equal(bpftool("map", "freeze", "pinned", p.pin).errno, 0);
    p.vm.freeze();
    same(p, [up(u32(1), u32(6)), del(u32(0)), look(u32(0))]);
    // Freezing again fails the write-permission check before the "already frozen" one.
    assert.equal(bpftool("map", "freeze", "pinned", p.pin).errno, Errno.EPERM);
    assert.equal(
      vmErrno(() => p.vm.freeze()),
      Errno.EPERM,
    );
  });
});

test("map creation fails (or not) with the kernel's errno", (t) => {
  if (SKIP) return t.skip(SKIP);
  const ncpus = possibleCpus();
  const cases: [number, number, number, number][] = [
    [MapType.array, 8, 4, 1],
    [MapType.array, 4, 0, 1],
    [MapType.array, 4, 4, 0],
    [MapType.hash, 600, 4, 1],
    [MapType.hash, 0, 4, 1],
    [MapType.hash, 4, 0, 1],
    [MapType.prog_array, 4, 8, 1],
    [MapType.percpu_array, 4, 4, 0],
  ];
  withPins(() => {
    cases.forEach(([type, k, v, n], i) => {
      const s = spec(`c${i}`, type, k, v, n);
      const args = ["type", s.typeName, "key", String(k), "value", String(v), "entries", String(n)];
      const r = bpftool("map", "create", `${PIN_DIR}/c${i}`, ...args, "name", s.name);
      const vm = vmErrno(() => createVmMap(s, { possibleCpus: ncpus, littleEndian: true }));
      assert.equal(vm, r.errno, `create ${s.typeName} key ${k} value ${v} entries ${n}`);
    });
    // Per-CPU LRU lists: the kernel rounds max_entries to a multiple of the CPUs.
    const lru = { ...spec("lru_cpu", MapType.lru_hash, 4, 4, 5), flags: MapFlag.NO_COMMON_LRU };
    const p = createBoth(lru, ncpus, ["flags", String(MapFlag.NO_COMMON_LRU)]);
    const info = bpftool("map", "show", "pinned", p.pin).json as { max_entries: number };
    assert.equal((p.vm as HashMap).capacity, info.max_entries);
  });
});
