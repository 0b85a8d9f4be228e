/**
 * bpf_attr layouts checked two ways: against the C compiler's own layout of
 * `union bpf_attr` from the system's linux/bpf.h (clang as the oracle), and through a fake Sys
 * that records what each operation sends.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";
import { isLoadError, isMapError, isVerifierError, type VerifierError } from "../../src/errors.js";
import {
  btfLoadAttr,
  linkCreateAttr,
  mapCreateAttr,
  mapElemAttr,
  objAttr,
  objInfoAttr,
  objName,
  progLoadAttr,
  testRunAttr,
} from "../../src/kernel/attr.js";
import { BpfCmd, isPerCpuMapType, MapType, perCpuValueStride, ProgType } from "../../src/abi/index.js";
import { Errno } from "../../src/abi/index.js";
import { missingCaps, parseCapEff, permissionHint } from "../../src/kernel/errno-hint.js";
import { Fd } from "../../src/kernel/fd.js";
import { parseCpuList } from "../../src/backend/possible-cpus.js";
import { createMap, deleteElem, lookupElem, updateElem } from "../../src/kernel/map-ops.js";
import { decodeLog, loadProgram, testRun, verifierSummary } from "../../src/kernel/program-ops.js";
import { fakeSys, hasCommand, u32, u64 } from "./support.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

const C_SOURCE = String.raw`
#include <stdio.h>
#include <string.h>
#include <stddef.h>
#include <linux/bpf.h>
static void dump(const char *name, const void *p, size_t n) {
  const unsigned char *b = p; printf("%s ", name);
  for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
  printf("\n");
}
#define OFF(name, field) printf("off %s %zu\n", name, offsetof(union bpf_attr, field))
int main(void) {
  union bpf_attr a;
  memset(&a, 0, sizeof a);
  a.map_type = 13; a.key_size = 4; a.value_size = 4; a.max_entries = 1000; a.map_flags = 1;
  a.inner_map_fd = 7; a.numa_node = 2; strcpy(a.map_name, "outer_map"); a.map_ifindex = 3;
  a.btf_fd = 9; a.btf_key_type_id = 10; a.btf_value_type_id = 11; a.btf_vmlinux_value_type_id = 12;
  a.map_extra = 0x1122334455667788ULL;
  dump("map_create", &a, 72);
  memset(&a, 0, sizeof a);
  a.map_fd = 5; a.flags = 2; dump("map_elem", &a, 32);
  OFF("elem.key", key); OFF("elem.value", value);
  memset(&a, 0, sizeof a);
  a.prog_type = 6; a.insn_cnt = 3; a.log_level = 2; a.log_size = 4096; a.kern_version = 0x60100;
  a.prog_flags = 1; strcpy(a.prog_name, "xdp_main"); a.prog_ifindex = 4; a.expected_attach_type = 37;
  a.prog_btf_fd = 8; a.func_info_rec_size = 8; a.func_info_cnt = 2; a.line_info_rec_size = 16;
  a.line_info_cnt = 1; a.attach_btf_id = 77; a.attach_prog_fd = 78;
  dump("prog_load", &a, 120);
  OFF("prog.insns", insns); OFF("prog.license", license); OFF("prog.log_buf", log_buf);
  OFF("prog.func_info", func_info); OFF("prog.line_info", line_info);
  memset(&a, 0, sizeof a);
  a.bpf_fd = 6; a.file_flags = 8; dump("obj", &a, 16); OFF("obj.pathname", pathname);
  memset(&a, 0, sizeof a);
  a.test.prog_fd = 3; a.test.data_size_in = 64; a.test.data_size_out = 4160; a.test.repeat = 100;
  a.test.ctx_size_in = 24; a.test.ctx_size_out = 24; a.test.flags = 1; a.test.cpu = 2; a.test.batch_size = 5;
  dump("test_run", &a, 80);
  OFF("test.data_in", test.data_in); OFF("test.data_out", test.data_out);
  OFF("test.ctx_in", test.ctx_in); OFF("test.ctx_out", test.ctx_out);
  memset(&a, 0, sizeof a);
  a.btf_size = 100; a.btf_log_size = 512; a.btf_log_level = 1; dump("btf_load", &a, 32);
  OFF("btf.btf", btf); OFF("btf.log", btf_log_buf);
  memset(&a, 0, sizeof a);
  a.link_create.prog_fd = 5; a.link_create.target_ifindex = 9; a.link_create.attach_type = BPF_XDP;
  a.link_create.flags = 2; dump("link_create", &a, 16);
  memset(&a, 0, sizeof a);
  a.info.bpf_fd = 4; a.info.info_len = 88; dump("info", &a, 16); OFF("info.info", info.info);
  return 0;
}
`;

test("attr layouts match the C compiler's union bpf_attr", (t) => {
  if (!hasCommand("clang")) return t.skip("needs clang to compile the layout oracle");
  const dir = mkdtempSync(join(tmpdir(), "tsbpf-attr-"));
  let out: string;
  try {
    writeFileSync(join(dir, "layout.c"), C_SOURCE);
    try {
      execFileSync("clang", ["-o", join(dir, "layout"), join(dir, "layout.c")], { stdio: "pipe" });
    } catch {
      return t.skip("needs linux/bpf.h (linux-libc-dev) for the layout oracle");
    }
    out = execFileSync(join(dir, "layout"), { encoding: "utf8" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const dumps = new Map<string, string>();
  const offs = new Map<string, number>();
  for (const line of out.trim().split("\n")) {
    const p = line.split(" ");
    if (p[0] === "off") offs.set(p[1] as string, Number(p[2]));
    else dumps.set(p[0] as string, p[1] as string);
  }
  const ptrOffsets = (ptrs: { offset: number }[]) => ptrs.map((p) => p.offset);

  assert.equal(
    hex(
      mapCreateAttr({
        type: 13,
        keySize: 4,
        valueSize: 4,
        maxEntries: 1000,
        flags: 1,
        innerMapFd: 7,
        numaNode: 2,
        name: "outer_map",
        ifindex: 3,
        btfFd: 9,
        btfKeyTypeId: 10,
        btfValueTypeId: 11,
        btfVmlinuxValueTypeId: 12,
        mapExtra: 0x1122334455667788n,
      }).attr,
    ),
    dumps.get("map_create"),
  );

  const elem = mapElemAttr(5, new Uint8Array(4), new Uint8Array(8), 2n, false);
  assert.equal(hex(elem.attr), dumps.get("map_elem"));
  assert.deepEqual(ptrOffsets(elem.ptrs), [offs.get("elem.key"), offs.get("elem.value")]);

  const prog = progLoadAttr({
    type: 6,
    insns: new Uint8Array(24),
    license: "GPL",
    logLevel: 2,
    logBuf: new Uint8Array(4096),
    kernVersion: 0x60100,
    flags: 1,
    name: "xdp_main",
    ifindex: 4,
    expectedAttachType: 37,
    btfFd: 8,
    funcInfo: new Uint8Array(16),
    lineInfo: new Uint8Array(16),
    attachBtfId: 77,
    attachProgFd: 78,
  });
  // The C side stops at 120 bytes (fd_array); the rest of ours must be zero.
  assert.equal(hex(prog.attr.subarray(0, 120)), dumps.get("prog_load"));
  assert.ok(prog.attr.subarray(120).every((b) => b === 0));
  assert.deepEqual(
    ptrOffsets(prog.ptrs),
    ["prog.insns", "prog.license", "prog.log_buf", "prog.func_info", "prog.line_info"].map((k) =>
      offs.get(k),
    ),
  );

  const obj = objAttr("/sys/fs/bpf/x", 6, 8);
  assert.equal(hex(obj.attr), dumps.get("obj"));
  assert.deepEqual(ptrOffsets(obj.ptrs), [offs.get("obj.pathname")]);

  const tr = testRunAttr({
    progFd: 3,
    dataIn: new Uint8Array(64),
    dataOut: new Uint8Array(4160),
    repeat: 100,
    ctxIn: new Uint8Array(24),
    ctxOut: new Uint8Array(24),
    flags: 1,
    cpu: 2,
    batchSize: 5,
  });
  assert.equal(hex(tr.attr), dumps.get("test_run"));
  assert.deepEqual(
    ptrOffsets(tr.ptrs),
    ["test.data_in", "test.data_out", "test.ctx_in", "test.ctx_out"].map((k) => offs.get(k)),
  );

  const btf = btfLoadAttr(new Uint8Array(100), new Uint8Array(512), 1);
  assert.equal(hex(btf.attr), dumps.get("btf_load"));
  assert.deepEqual(ptrOffsets(btf.ptrs), [offs.get("btf.btf"), offs.get("btf.log")]);

  assert.equal(hex(linkCreateAttr(5, 9, 37, 2).attr), dumps.get("link_create"));
  const info = objInfoAttr(4, new Uint8Array(88));
  assert.equal(hex(info.attr), dumps.get("info"));
  assert.deepEqual(ptrOffsets(info.ptrs), [offs.get("info.info")]);
});

test("object names are cut to 15 bytes and stripped of characters the kernel refuses", () => {
  assert.equal(
    new TextDecoder().decode(objName("xdp/ingress-prog.v2_long_name")).replace(/\0+$/, ""),
    "xdpingressprog.",
  );
  assert.equal(objName("a").byteLength, 16);
  assert.equal(objName("abcdefghijklmnopq")[15], 0);
});

test("createMap and element ops send the right command, attr and pointers (fake Sys)", () => {
  const { sys, calls, closed } = fakeSys((cmd, _attr, ptrs) => {
    if (cmd === BpfCmd.MAP_CREATE) return 42;
    if (cmd === BpfCmd.MAP_LOOKUP_ELEM) {
      const key = ptrs[0]?.buf as Uint8Array;
      if (key[0] === 9) return { errno: Errno.ENOENT };
      const value = ptrs[1]?.buf;
      assert.ok(value);
      value.set([1, 2, 3, 4, 5, 6, 7, 8]);
      return 0;
    }
    if (cmd === BpfCmd.MAP_DELETE_ELEM) return { errno: Errno.EINVAL };
    return 0;
  });
  const fd = createMap(sys, { type: MapType.hash, keySize: 4, valueSize: 8, maxEntries: 10, name: "counts" });
  assert.equal(fd.value, 42);
  assert.equal(calls[0]?.cmd, BpfCmd.MAP_CREATE);
  assert.equal(u32(calls[0]?.attr as Uint8Array, 0), MapType.hash);
  assert.equal(u32(calls[0]?.attr as Uint8Array, 12), 10);

  assert.deepEqual(
    lookupElem(sys, 42, new Uint8Array([1, 0, 0, 0]), 8),
    new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
  );
  assert.equal(lookupElem(sys, 42, new Uint8Array([9, 0, 0, 0]), 8), undefined);
  const look = calls[1] as (typeof calls)[number];
  assert.equal(u32(look.attr, 0), 42);
  assert.deepEqual(
    look.ptrs.map((p) => [p.offset, p.bytes.byteLength, p.out]),
    [
      [8, 4, false],
      [16, 8, true],
    ],
  );

  updateElem(sys, 42, new Uint8Array(4), new Uint8Array(8), 2n);
  assert.equal(u64((calls[3] as (typeof calls)[number]).attr, 24), 2n);
  assert.throws(
    () => deleteElem(sys, 42, new Uint8Array(4)),
    (e: unknown) => isMapError(e) && e.errno === Errno.EINVAL && e.code === "EINVAL",
  );
  fd.close();
  fd.close();
  assert.deepEqual(closed, [42], "close is idempotent");
  assert.throws(() => fd.value, /after close/);
});

test("a failed createMap becomes a LoadError with errno and hint", () => {
  const { sys } = fakeSys(() => ({ errno: Errno.EINVAL }));
  assert.throws(
    () => createMap(sys, { type: MapType.array, keySize: 8, valueSize: 4, maxEntries: 1, name: "bad" }),
    (e: unknown) =>
      isLoadError(e) && e.errno === Errno.EINVAL && /create map bad/.test(e.message) && e.hint !== undefined,
  );
});

test("loadProgram retries with a log, grows it on ENOSPC, and throws VerifierError", () => {
  const log =
    "0: R1=ctx() R10=fp0\n1: (71) r0 = *(u8 *)(r2 +0)\ninvalid access to packet\nprocessed 2 insns (limit 1000000)\n";
  const sizes: number[] = [];
  const { sys, calls } = fakeSys((_cmd, attr, ptrs) => {
    const logPtr = ptrs.find((p) => p.offset === 32);
    if (logPtr === undefined) return { errno: Errno.EACCES };
    sizes.push(u32(attr, 28));
    const bytes = new TextEncoder().encode(log);
    if (logPtr.buf.byteLength <= bytes.byteLength) {
      logPtr.buf.set(bytes.subarray(0, logPtr.buf.byteLength - 1));
      new DataView(attr.buffer).setUint32(140, bytes.byteLength + 1, true);
      return { errno: Errno.ENOSPC };
    }
    logPtr.buf.set(bytes);
    return { errno: Errno.EACCES };
  });
  const insns = new Uint8Array(16);
  let err: VerifierError | undefined;
  try {
    loadProgram(sys, { type: ProgType.xdp, insns, license: "GPL", name: "p", logSize: 16 });
  } catch (e) {
    if (isVerifierError(e)) err = e;
    else throw e;
  }
  assert.ok(err, "a VerifierError was thrown");
  assert.equal(err.errno, Errno.EACCES);
  assert.match(err.message, /invalid access to packet/);
  assert.deepEqual(err.log.at(-1), "processed 2 insns (limit 1000000)");
  assert.equal(calls.length, 3, "one attempt without log, one too small, one that fits");
  assert.equal(u32(calls[0]?.attr as Uint8Array, 24), 0, "first attempt has log_level 0");
  assert.equal(u32(calls[1]?.attr as Uint8Array, 24), 1, "retry asks for log_level 1");
  assert.deepEqual(sizes, [16, log.length + 1], "the buffer grew to what log_true_size asked for");
  assert.equal(u32(calls[0]?.attr as Uint8Array, 4), 2, "insn_cnt");
});

test("verifierSummary skips the statistics lines", () => {
  assert.equal(
    verifierSummary([
      "a",
      "R2 offset is outside of the packet",
      "processed 2 insns",
      "",
      "verification time 5 usec",
    ]),
    "R2 offset is outside of the packet",
  );
  assert.equal(decodeLog(new Uint8Array([104, 105, 0, 120])), "hi");
});

test("testRun reads retval, data_size_out and duration back from the attr (fake Sys)", () => {
  const { sys, calls } = fakeSys((_cmd, attr, ptrs) => {
    const v = new DataView(attr.buffer);
    v.setUint32(4, 3, true);
    v.setUint32(12, 5, true);
    v.setUint32(36, 17, true);
    const out = ptrs.find((p) => p.offset === 24)?.buf;
    assert.ok(out);
    out.set([9, 8, 7, 6, 5]);
    return 0;
  });
  const r = testRun(sys, 7, { dataIn: new Uint8Array(20), repeat: 10 });
  assert.deepEqual(r, { retval: 3, dataOut: new Uint8Array([9, 8, 7, 6, 5]), durationNs: 17 });
  const a = calls[0]?.attr as Uint8Array;
  assert.equal(u32(a, 0), 7);
  assert.equal(u32(a, 8), 20);
  assert.equal(u32(a, 12), 20 + 4096);
  assert.equal(u32(a, 32), 10);
});

test("capability hints name exactly the missing capabilities", () => {
  assert.equal(parseCapEff("Name:\tnode\nCapEff:\t000001fffeffffff\n"), 0x1fffeffffffn);
  assert.deepEqual(missingCaps(0n), ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"]);
  assert.deepEqual(missingCaps((1n << 39n) | (1n << 12n)), ["CAP_PERFMON"]);
  assert.deepEqual(missingCaps(1n << 21n), [], "CAP_SYS_ADMIN covers all");
  assert.match(permissionHint(1n << 39n), /lacks CAP_NET_ADMIN, CAP_PERFMON/);
  assert.match(permissionHint(undefined), /unknown/);
  // Every capability, but inside a user namespace of its own: bpf() does not count them.
  const all = (1n << 41n) - 1n;
  assert.match(permissionHint(all, true), /only in a user namespace of its own \(a rootless container's\)/);
  assert.match(permissionHint(all), /has them .*kernel lockdown/);
});

test("per-CPU value buffers are rounded to 8 bytes per possible CPU", () => {
  assert.equal(parseCpuList("0-3,8,10-11\n"), 7);
  assert.equal(perCpuValueStride(4), 8);
  assert.equal(perCpuValueStride(8), 8);
  assert.equal(perCpuValueStride(12), 16);
  assert.ok(isPerCpuMapType(MapType.percpu_array) && !isPerCpuMapType(MapType.hash));
});

test("Fd refuses invalid numbers and release() hands ownership over", () => {
  const { sys, closed } = fakeSys(() => 0);
  assert.throws(() => new Fd(sys, -1, "x"), /invalid file descriptor/);
  const fd = new Fd(sys, 5, "x");
  assert.equal(fd.release(), 5);
  fd.close();
  assert.deepEqual(closed, []);
});

test("a leaked Fd is closed by the GC safety net with a warning", () => {
  const fdModule = pathToFileURL(resolve("dist/src/kernel/fd.js")).href;
  const script = `
    import { Fd } from ${JSON.stringify(fdModule)};
    const closed = [];
    const warnings = [];
    process.on("warning", (w) => warnings.push(w.code + " " + w.message));
    const sys = { close: (fd) => closed.push(fd) };
    (() => { new Fd(sys, 77, "prog array jmp"); })();
    for (let i = 0; i < 20 && closed.length === 0; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 10));
    console.log(JSON.stringify({ closed, warnings }));`;
  const r = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", script], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim()) as { closed: number[]; warnings: string[] };
  assert.deepEqual(out.closed, [77]);
  assert.equal(out.warnings.length, 1);
  assert.match(out.warnings[0] ?? "", /^TSBPF_FD_LEAK tsbpf: prog array jmp \(fd 77\) was garbage-collected/);
});

test("a program load interrupted by a signal (EAGAIN) is retried, as libbpf does", () => {
  let attempts = 0;
  const { sys } = fakeSys((cmd) => {
    if (cmd !== BpfCmd.PROG_LOAD) return 3;
    attempts++;
    return attempts < 3 ? { errno: Errno.EAGAIN } : 7;
  });
  const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const p = loadProgram(sys, { type: 6, insns, license: "GPL", name: "again" });
  assert.equal(p.fd.value, 7);
  assert.equal(attempts, 3);
  const stuck = fakeSys(() => ({ errno: Errno.EAGAIN }));
  assert.throws(() => loadProgram(stuck.sys, { type: 6, insns, license: "GPL", name: "stuck" }), /EAGAIN/);
});
