/** Loading hand-assembled programs into the running kernel, test_run, tail calls, and rejections. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { isVerifierError, type VerifierError } from "../../src/errors.js";
import { BpfCmd, HelperId, MapType, ProgType } from "../../src/abi/index.js";
import { Errno } from "../../src/abi/index.js";
import type { Fd } from "../../src/kernel/fd.js";
import { createMap, deleteElem, updateElem } from "../../src/kernel/map-ops.js";
import { getProgramInfo } from "../../src/kernel/object-ops.js";
import { loadBtf, loadProgram, testRun, xdpContext } from "../../src/kernel/program-ops.js";
import { defaultSys, type PtrArg } from "../../src/kernel/sys.js";
import { asm, hasCommand, kernelSkipReason, program } from "./support.js";

const skip = kernelSkipReason();
const XDP_PASS = 2;
const XDP_TX = 3;
const le32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);

function packet(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 7 + 1) & 0xff);
}

/** Writes 0xab into the first packet byte after a bounds check, returns XDP_PASS. */
const writeFirstByte = program(
  asm.ldxw(2, 1, 0),
  asm.ldxw(3, 1, 4),
  asm.movReg(4, 2),
  asm.addImm(4, 1),
  asm.jgtReg(4, 3, 1),
  asm.stb(2, 0, 0xab),
  asm.movImm(0, XDP_PASS),
  asm.exit(),
);

test("an XDP program runs under BPF_PROG_TEST_RUN: retval, data out, repeat, duration", { skip }, () => {
  const sys = defaultSys();
  const { fd } = loadProgram(sys, {
    type: ProgType.xdp,
    insns: writeFirstByte,
    license: "GPL",
    name: "t_write",
  });
  try {
    const input = packet(64);
    const r = testRun(sys, fd.value, { dataIn: input, repeat: 1 });
    assert.equal(r.retval, XDP_PASS);
    const want = input.slice();
    want[0] = 0xab;
    assert.deepEqual(r.dataOut, want);
    assert.deepEqual(input, packet(64), "the caller's input is untouched");
    const many = testRun(sys, fd.value, { dataIn: input, repeat: 100000 });
    assert.equal(many.retval, XDP_PASS);
    assert.ok(
      many.durationNs > 0 && many.durationNs < 10000,
      `mean duration ${many.durationNs} ns is plausible`,
    );
    assert.equal(
      (() => {
        try {
          testRun(sys, fd.value, { dataIn: packet(8) });
        } catch (e) {
          return (e as { errno?: number }).errno;
        }
        return 0;
      })(),
      Errno.EINVAL,
      "XDP test_run needs at least an Ethernet header",
    );
  } finally {
    fd.close();
  }
});

test("program info matches what bpftool reports", { skip }, (t) => {
  if (!hasCommand("bpftool")) return t.skip("needs bpftool to compare with");
  const sys = defaultSys();
  const { fd } = loadProgram(sys, {
    type: ProgType.xdp,
    insns: writeFirstByte,
    license: "GPL",
    name: "t_info",
  });
  try {
    const info = getProgramInfo(sys, fd.value);
    const tool = JSON.parse(
      execFileSync("bpftool", ["prog", "show", "id", String(info.id), "--json"], { encoding: "utf8" }),
    );
    assert.equal(tool.id, info.id);
    assert.equal(tool.type, "xdp");
    assert.equal(info.type, ProgType.xdp);
    assert.equal(tool.name, info.name);
    assert.equal(tool.tag, info.tag);
    assert.equal(tool.gpl_compatible, info.gplCompatible);
    assert.equal(tool.bytes_xlated, info.xlatedSize);
    assert.equal(info.xlatedSize, writeFirstByte.byteLength);
  } finally {
    fd.close();
  }
});

test("a real tail call through a prog array, the empty-slot fall-through, and the erase on last close", {
  skip,
}, async () => {
  const sys = defaultSys();
  const fds: Fd[] = [];
  try {
    const pa = createMap(sys, {
      type: MapType.prog_array,
      keySize: 4,
      valueSize: 4,
      maxEntries: 2,
      name: "t_jmp",
    });
    fds.push(pa);
    const caller = loadProgram(sys, {
      type: ProgType.xdp,
      license: "GPL",
      name: "t_caller",
      insns: program(
        asm.ldMapFd(2, pa.value),
        asm.movImm(3, 0),
        asm.call(HelperId.tail_call),
        asm.movImm(0, 1),
        asm.exit(),
      ),
    }).fd;
    fds.push(caller);
    const target = loadProgram(sys, {
      type: ProgType.xdp,
      license: "GPL",
      name: "t_target",
      insns: program(asm.movImm(0, XDP_TX), asm.exit()),
    }).fd;
    fds.push(target);
    const run = () => testRun(sys, caller.value, { dataIn: packet(60) }).retval;

    assert.equal(run(), 1, "empty slot: bpf_tail_call returns and the caller continues");
    updateElem(sys, pa.value, le32(0), le32(target.value));
    assert.equal(run(), XDP_TX, "filled slot: the target's verdict");
    deleteElem(sys, pa.value, le32(0));
    assert.equal(run(), 1, "slot emptied again");

    updateElem(sys, pa.value, le32(0), le32(target.value));
    assert.equal(run(), XDP_TX);
    // The caller still references the map, but user space no longer does: the kernel erases it.
    pa.close();
    let v = run();
    for (let i = 0; i < 50 && v !== 1; i++) {
      await sleep(20);
      v = run();
    }
    assert.equal(v, 1, "closing the last user fd of a prog array erased its slots");
  } finally {
    for (const fd of fds.reverse()) fd.close();
  }
});

test("the verifier's rejection comes back as a VerifierError with the whole log", { skip }, () => {
  const sys = defaultSys();
  // Reads the packet without comparing against data_end.
  const insns = program(asm.ldxw(2, 1, 0), asm.ldxb(0, 2, 0), asm.exit());
  let err: VerifierError | undefined;
  try {
    loadProgram(sys, { type: ProgType.xdp, insns, license: "GPL", name: "t_unchecked" }).fd.close();
  } catch (e) {
    if (!isVerifierError(e)) throw e;
    err = e;
  }
  assert.ok(err, "load was refused");
  assert.equal(err.errno, Errno.EACCES);
  assert.equal(err.context.program, "t_unchecked");
  assert.ok(
    err.log.some((l) => l.includes("invalid access to packet")),
    err.log.join("\n"),
  );
  assert.ok(err.log.some((l) => l.startsWith("processed ")));
  assert.match(err.message, /verifier rejected it \(EACCES\)/);
});

test("a verifier log larger than the first buffer is grown until it fits", { skip }, () => {
  const real = defaultSys();
  let loads = 0;
  const sys = {
    ...real,
    bpf: (cmd: number, attr: Uint8Array, ptrs?: readonly PtrArg[]) => {
      if (cmd === BpfCmd.PROG_LOAD) loads++;
      return real.bpf(cmd, attr, ptrs);
    },
  };
  const big = loadProgram(sys, {
    type: ProgType.xdp,
    insns: writeFirstByte,
    license: "GPL",
    name: "t_log",
    logLevel: 2,
    logSize: 1 << 20,
  });
  assert.equal(loads, 1);
  const small = loadProgram(sys, {
    type: ProgType.xdp,
    insns: writeFirstByte,
    license: "GPL",
    name: "t_log",
    logLevel: 2,
    logSize: 32,
  });
  try {
    assert.ok(loads > 2, `the 32-byte log made the load retry (${loads - 1} attempts)`);
    assert.ok(big.log.length > 32, "level-2 log is longer than 32 bytes");
    const strip = (s: string) => s.replace(/verification time \d+ usec/, "");
    assert.equal(strip(small.log), strip(big.log));
  } finally {
    big.fd.close();
    small.fd.close();
  }
});

/** A minimal BTF blob: header, one type, strings. */
function btfBlob(intBits: number): Uint8Array {
  const strings = new TextEncoder().encode("\0int\0");
  const types = new Uint8Array(16);
  const tv = new DataView(types.buffer);
  tv.setUint32(0, 1, true); // name_off -> "int"
  tv.setUint32(4, 1 << 24, true); // kind INT, vlen 0
  tv.setUint32(8, 4, true); // size
  tv.setUint32(12, (1 << 24) | intBits, true); // signed, offset 0, bits
  const out = new Uint8Array(24 + types.byteLength + strings.byteLength);
  const v = new DataView(out.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, types.byteLength, true);
  v.setUint32(16, types.byteLength, true);
  v.setUint32(20, strings.byteLength, true);
  out.set(types, 24);
  out.set(strings, 24 + types.byteLength);
  return out;
}

test("BTF loads, and malformed BTF is refused with the BTF verifier's log", { skip }, () => {
  const sys = defaultSys();
  const { fd } = loadBtf(sys, btfBlob(32));
  fd.close();
  let err: VerifierError | undefined;
  try {
    loadBtf(sys, btfBlob(64)).fd.close();
  } catch (e) {
    if (!isVerifierError(e)) throw e;
    err = e;
  }
  assert.ok(err, "64 bits in a 4-byte int is refused");
  assert.equal(err.errno, Errno.EINVAL);
  assert.ok(err.log.join("\n").length > 0);
});

test("an XDP context in (ingress_ifindex, rx_queue_index) reaches the program and comes back out", {
  skip,
}, () => {
  const sys = defaultSys();
  // r0 = ctx->ingress_ifindex.
  const { fd } = loadProgram(sys, {
    type: ProgType.xdp,
    license: "GPL",
    name: "t_ctx",
    insns: program(asm.ldxw(0, 1, 12), asm.exit()),
  });
  try {
    const data = packet(60);
    const r = testRun(sys, fd.value, {
      dataIn: data,
      ctxIn: xdpContext({ dataLen: 60, ingressIfindex: 1 }),
      ctxOutSize: 24,
    });
    assert.equal(r.retval, 1, "the program saw ingress_ifindex 1 (lo)");
    assert.ok(r.ctxOut !== undefined && r.ctxOut.byteLength === 24);
    const out = new DataView(r.ctxOut.buffer);
    assert.deepEqual([out.getUint32(0, true), out.getUint32(4, true), out.getUint32(12, true)], [0, 60, 1]);
    let err: unknown;
    try {
      testRun(sys, fd.value, {
        dataIn: data,
        ctxIn: xdpContext({ dataLen: 60, ingressIfindex: 1, rxQueueIndex: 4096 }),
      });
    } catch (e) {
      err = e;
    }
    assert.equal(
      (err as { errno?: number }).errno,
      Errno.EINVAL,
      "a queue the device does not have is refused",
    );
  } finally {
    fd.close();
  }
});
