// Runs test/bpf/trace/printk.bpf.o in the kernel (bpftool prog run) and checks every trace_pipe
// line against formatTracePrintk() given the same format bytes (read from the object's .rodata)
// and the same arguments. The kernel's return values for rejected formats are printed by the
// program itself and checked against the formatter's errno.
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTracePrintk, type PrintkMemory, type PrintkResult } from "../../src/trace/printk.js";
import { ensureTracefs } from "../../src/kernel/mounts.js";
import { TracePipeReader } from "../../src/trace/trace-pipe.js";
import type { TraceLine } from "../../src/trace/trace-line.js";
import { canRun } from "../support/tools.js";

const OBJ = join(process.cwd(), "test/bpf/trace/printk.bpf.o");
const LOCK = "/tmp/tsbpf-trace.lock";

/** The bytes of a section, parsed from `llvm-objdump -s -j NAME`. */
function sectionBytes(obj: string, name: string): Uint8Array {
  const out = execFileSync("llvm-objdump", ["-s", "-j", name, obj], { encoding: "utf8" });
  const bytes: number[] = [];
  for (const line of out.split("\n")) {
    const m = /^ [0-9a-f]{4,} ((?:[0-9a-f]{2,8} ){1,4})/.exec(line);
    if (!m?.[1]) continue;
    for (const word of m[1].trim().split(" ")) {
      for (let k = 0; k < word.length; k += 2) bytes.push(Number.parseInt(word.slice(k, k + 2), 16));
    }
  }
  return Uint8Array.from(bytes);
}

/** The NUL-terminated byte string in `sec` whose text is `fmt` (the exact bytes the helper got). */
function findFormat(sec: Uint8Array, fmt: string): Uint8Array | undefined {
  const want = Uint8Array.from([...Buffer.from(fmt, "latin1"), 0]);
  outer: for (let i = 0; i + want.length <= sec.length; i++) {
    if (i > 0 && sec[i - 1] !== 0) continue;
    for (let k = 0; k < want.length; k++) if (sec[i + k] !== want[k]) continue outer;
    return sec.subarray(i, i + want.length);
  }
  return undefined;
}

// Fake addresses for the memory the program points at; the formatter reads through PrintkMemory.
const STACK = 0x10000n;
const RODATA = 0x20000n;
const PKT = 0x30000n;
const VSTACK = 0x40000n;
const LONG = 0x50000n;

const packet = new Uint8Array(64);
packet.set([0x08, 0x00], 12);
packet.set([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 192, 168, 1, 254], 14);
packet.set(Buffer.from("20010db80000000000000000000100ff", "hex"), 34);

const regions: [bigint, Uint8Array][] = [
  [STACK, Uint8Array.from([...Buffer.from("stack-str"), 0, 0, 0, 0, 0, 0, 0])],
  [RODATA, Uint8Array.from([...Buffer.from("rodata-string"), 0])],
  [PKT, packet],
  [VSTACK, Uint8Array.from([...Buffer.from("vstr"), 0, 0, 0, 0])],
  [LONG, Uint8Array.from([...Buffer.from(`${"0123456789abcdef".repeat(35)}0123456789ABCDEF`), 0])],
];
const mem: PrintkMemory = {
  readBytes(addr, len) {
    for (const [base, b] of regions) {
      if (addr >= base && addr + BigInt(len) <= base + BigInt(b.length)) {
        const o = Number(addr - base);
        return b.slice(o, o + len);
      }
    }
    return undefined;
  },
  readString(addr, max) {
    for (const [base, b] of regions) {
      if (addr >= base && addr < base + BigInt(b.length)) {
        const o = Number(addr - base);
        const end = b.indexOf(0, o);
        if (end < 0) return undefined;
        return b.slice(o, Math.min(end, o + max));
      }
    }
    return undefined;
  },
};

const neg = (n: number): bigint => BigInt.asUintN(64, BigInt(n));
const retOf = (r: PrintkResult | undefined): bigint =>
  r === undefined ? 0n : r.ok ? BigInt(r.ret) : neg(-r.errno);
type Row = { fmt: string; args: bigint[] | ((prev: PrintkResult | undefined) => bigint[]); v?: true };

// In the order printk.bpf.c prints them, program by program.
const TABLE: [string, Row[]][] = [
  [
    "printk_ints",
    [
      { fmt: "ints %d %i %u", args: [neg(-5), 42n, 4000000000n] },
      { fmt: "hex %x %X %x", args: [0xdeadbeefn, 0xdeadbeefn, 0n] },
      { fmt: "long %ld %lu %lx", args: [neg(-1234567890123), (1n << 64n) - 1n, 0x1122334455667788n] },
      { fmt: "llong %lld %llu %llX", args: [1n << 63n, 12345678901234n, 0xabcdef0123n] },
      { fmt: "width [%5d] [%-5d] [%05d]", args: [42n, 42n, 42n] },
      { fmt: "flags [%+d] [% d] [%+d]", args: [7n, 7n, neg(-7)] },
      { fmt: "zero-neg [%08d] [%-08d] [%+08d]", args: [neg(-42), neg(-42), 42n] },
      { fmt: "hexw [%08x] [%-8X|] [%8lx]", args: [0xbeefn, 0xbeefn, 0x12345n] },
      { fmt: "trunc32 %d %u %x", args: [0x1ffffffffn, 0x100000005n, 0xabcdef0012345678n] },
      { fmt: "pct %% %d%%", args: [100n] },
      { fmt: "zero %d %u %x", args: [0n, 0n, 0n] },
      { fmt: "big width [%30lld]", args: [neg(-1)] },
      { fmt: "no newline at end", args: [] },
      { fmt: "with newline at end\n", args: [] },
      { fmt: "tab\there and\ttab", args: [] },
      { fmt: "multi\nline %d\nmessage", args: [3n] },
    ],
  ],
  [
    "printk_strings",
    [
      { fmt: "str [%s] [%s]", args: [STACK, RODATA] },
      { fmt: "strw [%12s] [%-12s]", args: [STACK, STACK] },
      { fmt: "strbad [%s] [%s]", args: [0n, 1234n] },
      { fmt: "pks [%pks]", args: [RODATA] },
      { fmt: "chars [%c%c%c] [%3c] [%-3c]", args: [97n, 66n, 33n, 120n, 121n], v: true },
      { fmt: "char-width [%03c]", args: [122n] },
    ],
  ],
  [
    "printk_pointers",
    [
      { fmt: "ip4 %pI4 %pi4", args: [PKT + 26n, PKT + 30n] },
      { fmt: "ip6 %pI6", args: [PKT + 34n] },
      { fmt: "ip6i %pi6", args: [PKT + 34n] },
      { fmt: "ip4bad %pI4 [%5pI4]", args: [0n, PKT + 26n] },
      { fmt: "px %px %px", args: [0x1234abcdn, 0n] },
      { fmt: "pxw [%20px]", args: [0xffn] },
      { fmt: "pnull %p %pK", args: [0n, 0n] },
      { fmt: "ps [%ps] [%pS]", args: [0n, 0n] },
      { fmt: "p-suffix %pI4xyz!", args: [PKT + 26n] },
    ],
  ],
  [
    "printk_vprintk",
    [
      { fmt: "v4 %d %d %d %d", args: [1n, neg(-2), 3n, neg(-4)], v: true },
      { fmt: "v6 %d %u %x %ld %s %c", args: [10n, 20n, 30n, 40n, VSTACK, 81n], v: true },
      {
        fmt: "v12 %d %d %d %d %d %d %d %d %d %d %d %d",
        args: [1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n, 10n, 11n, 12n],
        v: true,
      },
    ],
  ],
];
const errorRows: Row[] = [];
for (const [fmt, args, tag] of [
  ["bad conv %q", [1n], "bad-conv"],
  ["bad prec %.3d", [1n], "bad-prec"],
  ["bad hash %#x", [1n], "bad-hash"],
  ["too many %d %d %d %d", [], "too-many"],
  ["bad s-suffix %sx", [RODATA], "bad-s-suffix"],
  ["bad pa %pa", [0n], "bad-pa"],
  ["bad lc %lc", [99n], "bad-lc"],
  ["bad ctl \x01", [], "bad-ctl"],
  ["bad trailing %", [], "bad-trailing"],
  ["ok ret %d", [12345n], "ok"],
  ["long out [%1100d]", [7n], "long-out"],
  ["nul char [%c] after", [0n], "nul-char"],
  ["long str [%s]", [LONG], "long-str"],
  ["nospc %s %d", [LONG, 5n], "nospc"],
  ["nospc-c %s%c", [LONG, 99n], "nospc-c"],
] as [string, bigint[], string][]) {
  errorRows.push({ fmt, args }, { fmt: `ret ${tag} %ld`, args: (prev) => [retOf(prev)] });
}
TABLE.push(["printk_errors", errorRows]);

/** Holds the shared trace lock through a `flock` child until release() is called. */
async function takeLock(): Promise<() => void> {
  const child = spawn("flock", [LOCK, "-c", "echo locked; read _"], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once("data", () => resolve());
    child.once("error", reject);
    child.once("exit", (c) => reject(new Error(`flock exited ${c}`)));
  });
  return () => {
    child.stdin.end();
  };
}

/** Runs bpftool; `pid` is set as soon as it starts, so trace lines can be matched to this run. */
function run(args: string[], started?: (pid: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile("bpftool", args, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    if (child.pid !== undefined) started?.(child.pid);
  });
}

test("bpf_printk output matches the kernel's trace_pipe byte for byte", async (t) => {
  if (process.getuid?.() !== 0) return t.skip("needs root: loads XDP programs and reads trace_pipe");
  if (!canRun("bpftool") || !canRun("flock") || !canRun("llvm-objdump")) {
    return t.skip("needs bpftool, flock and llvm-objdump");
  }
  if (!existsSync(OBJ)) return t.skip(`fixture missing: ${OBJ} (run scripts/build-bpf.sh)`);
  const rodata = sectionBytes(OBJ, ".rodata");
  const tmp = mkdtempSync(join(tmpdir(), "tsbpf-printk-"));
  const pin = `/sys/fs/bpf/tsbpf-printk-${process.pid}`;
  const pktFile = join(tmp, "pkt.bin");
  writeFileSync(pktFile, packet);
  const release = await takeLock();
  try {
    const dir = ensureTracefs();
    await run(["prog", "loadall", OBJ, pin, "type", "xdp"]);
    for (const [prog, rows] of TABLE) {
      writeFileSync(`${dir}/trace`, ""); // empties the ring buffer, as `echo > trace` does
      const reader = new TracePipeReader({ dir, pollMs: 5 });
      const got: TraceLine[] = [];
      let pid = -1;
      // Only lines from our own bpftool process count, in case something else prints meanwhile.
      const pump = (async () => {
        for await (const l of reader) if (l.pid === pid) got.push(l);
      })();
      await run(["prog", "run", "pinned", `${pin}/${prog}`, "data_in", pktFile, "repeat", "1"], (p) => {
        pid = p;
      });
      // Expected lines, computed by the formatter from the object's own format bytes.
      const want: string[] = [];
      let prev: PrintkResult | undefined;
      for (const row of rows) {
        const fmtBytes = findFormat(rodata, row.fmt);
        assert.ok(fmtBytes, `format ${JSON.stringify(row.fmt)} is in .rodata`);
        let args = typeof row.args === "function" ? row.args(prev) : row.args;
        if (!row.v) args = [...args, 0n, 0n, 0n].slice(0, Math.max(3, args.length));
        const r = formatTracePrintk(fmtBytes, args, mem);
        prev = r;
        if (!r.ok) continue;
        // The trace event ends every message with "\n"; TracePipeReader joins the extra lines an
        // own "\n" makes, so the message is the formatter's text exactly.
        want.push(r.text);
      }
      const deadline = Date.now() + 3000;
      while (got.length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      await reader.stop();
      await pump;
      assert.deepEqual(
        got.map((l) => l.message),
        want,
        `${prog}: trace_pipe messages`,
      );
      for (const l of got) assert.equal(l.fn, "bpf_trace_printk");
    }
  } finally {
    release();
    rmSync(pin, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  }
});
