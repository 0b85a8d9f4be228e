import { execFileSync } from "node:child_process";
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTracePrintk, type PrintkMemory } from "../../src/trace/printk.js";

const enc = new TextEncoder();
/** Memory with NUL-terminated strings at 0x1000, 0x2000, ... */
function memOf(...strings: string[]): PrintkMemory {
  const regions = strings.map(
    (s, i) => [BigInt(0x1000 * (i + 1)), Uint8Array.from([...enc.encode(s), 0])] as const,
  );
  return {
    readBytes(addr, len) {
      for (const [base, b] of regions)
        if (addr >= base && addr + BigInt(len) <= base + BigInt(b.length))
          return b.slice(Number(addr - base), Number(addr - base) + len);
      return undefined;
    },
    readString(addr, max) {
      for (const [base, b] of regions) {
        if (addr >= base && addr < base + BigInt(b.length)) {
          const o = Number(addr - base);
          return b.slice(o, Math.min(b.indexOf(0, o), o + max));
        }
      }
      return undefined;
    },
  };
}
const none = memOf();
const text = (fmt: string, args: bigint[], mem = none): string => {
  const r = formatTracePrintk(fmt, args, mem);
  assert.ok(r.ok, `${fmt}: ${r.ok ? "" : r.reason}`);
  return r.text;
};
const errno = (fmt: string | Uint8Array, args: bigint[], mem = none): number => {
  const r = formatTracePrintk(fmt, args, mem);
  assert.ok(!r.ok, `${String(fmt)} should fail`);
  return r.errno;
};

test("integer conversions agree with C printf semantics (python3 % as the oracle)", (t) => {
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const cases: { fmt: string; arg: bigint; py: string; pyArg: string }[] = [];
  const values = [
    0n,
    1n,
    7n,
    42n,
    255n,
    65535n,
    0x7fffffffn,
    0x80000000n,
    0xffffffffn,
    0x123456789abcdefn,
    (1n << 63n) - 1n,
    1n << 63n,
    (1n << 64n) - 1n,
  ];
  for (let k = 0; k < 400; k++) {
    const flags = ["", "-", "0", "+", " ", "-0", "+0", " 0", "-+", "+ "][rnd(10)] ?? "";
    const width = [""].concat(["1", "5", "12", "25"])[rnd(5)] ?? "";
    const len = ["", "l", "ll"][rnd(3)] ?? "";
    const conv = ["d", "i", "u", "x", "X"][rnd(5)] ?? "d";
    const v = values[rnd(values.length)] ?? 0n;
    const bits = len === "" ? 32 : 64;
    const signed = conv === "d" || conv === "i";
    const shown = signed ? BigInt.asIntN(bits, v) : BigInt.asUintN(bits, v);
    // python's % has no unsigned conversions and treats +/space on x like signed; C ignores them there.
    const pyFlags = signed ? flags : flags.replace(/[+ ]/g, "");
    cases.push({
      fmt: `%${flags}${width}${len}${conv}`,
      arg: v,
      py: `%${pyFlags}${width}${conv === "u" || conv === "i" ? "d" : conv}`,
      pyArg: shown.toString(),
    });
  }
  let want: string[];
  try {
    const script = "import sys,json\nfor f,a in json.load(sys.stdin): print(f % int(a))";
    want = execFileSync("python3", ["-c", script], {
      input: JSON.stringify(cases.map((c) => [c.py, c.pyArg])),
      encoding: "utf8",
    }).split("\n");
  } catch {
    return t.skip("python3 not installed");
  }
  for (const [i, c] of cases.entries())
    assert.equal(text(c.fmt, [c.arg, 0n, 0n]), want[i], `${c.fmt} of ${c.arg}`);
});

test("strings, chars, pointers and IP addresses", () => {
  const mem = memOf("hello", "a-much-longer-string");
  assert.equal(
    text("[%s] [%8s] [%-8s|]", [0x1000n, 0x1000n, 0x1000n], mem),
    "[hello] [   hello] [hello   |]",
  );
  assert.equal(text("[%s] [%s]", [0n, 0xdeadn], mem), "[] []");
  assert.equal(text("%pks/%pus", [0x2000n, 0x1000n], mem), "a-much-longer-string/hello");
  assert.equal(text("%c%c%c", [0x68n, 0x169n, 0x21n]), "hi!");
  // IP conversions read raw bytes (NULs included); unreadable memory prints zeros, as in the kernel.
  assert.equal(
    text("%pI4 %pi4 %pI4", [0x1000n, 0x1000n, 0x9000n], memOf("\x0a\x00\x00\x01")),
    "10.0.0.1 010.000.000.001 0.0.0.0",
  );
  const ipMem: PrintkMemory = {
    readBytes: (a, n) => (a === 5n ? Uint8Array.from({ length: n }, (_, i) => i * 17) : undefined),
    readString: () => undefined,
  };
  assert.equal(
    text("%pI4|%pi4|%pI6|%pi6", [5n, 5n, 5n, 5n], ipMem),
    "0.17.34.51|000.017.034.051|0011:2233:4455:6677:8899:aabb:ccdd:eeff|00112233445566778899aabbccddeeff",
  );
  assert.equal(
    text("%px %p %pK", [0xffff888012345678n, 0n, (1n << 64n) - 2n]),
    "ffff888012345678 0000000000000000 fffffffffffffffe",
  );
  const hashed = formatTracePrintk("%p|%pK|%px", [0x1234n, 0x1234n, 0x1234n], none, {
    hashPointer: (p) => p ^ 0xffn,
  });
  assert.ok(hashed.ok && hashed.text === "00000000000012cb|00000000000012cb|0000000000001234");
  const sym = formatTracePrintk("%ps %pS %pB %ps", [1n, 2n, 3n, 0x99n], none, {
    symbolize: (a, m) => (a < 4n ? `sym${a}${m}` : undefined),
  });
  assert.ok(sym.ok && sym.text === "sym1s sym2S sym3B 0x99");
  assert.equal(text("%pI4abc.", [5n], ipMem), "0.17.34.51.");
});

test("errors the kernel returns", () => {
  assert.equal(errno(Uint8Array.from(enc.encode("no nul")), []), 22);
  assert.equal(errno("%d %d %d %d", [1n, 2n, 3n]), 22);
  assert.equal(errno("%d", new Array(13).fill(1n)), 22);
  assert.equal(errno("%5.2d", [1n, 0n, 0n]), 22);
  assert.equal(errno("%hd", [1n, 0n, 0n]), 22);
  assert.equal(errno("%sabc", [0n, 0n, 0n]), 22);
  assert.equal(errno("%pZ", [0n, 0n, 0n]), 22);
  assert.equal(errno("%pI5", [0n, 0n, 0n]), 22);
  assert.equal(errno("caf\u00e9", []), 22);
  assert.equal(errno("%", [1n]), 22);
  assert.equal(errno("%lllx", [1n]), 22);
  // Extra arguments are fine; 12 is the most vprintk takes.
  assert.equal(text("%d", new Array(12).fill(3n)), "3");
  // bpf_bprintf_prepare copies %s arguments into a 512-byte buffer: a long string is cut, and
  // once the buffer is full further arguments fail with ENOSPC.
  const long = memOf("x".repeat(600));
  const r = formatTracePrintk("%s", [0x1000n, 0n, 0n], long);
  assert.ok(r.ok && r.text === "x".repeat(511));
  assert.equal(errno("%s%d", [0x1000n, 1n, 0n], long), 28);
});

test("output is cut at 1023 bytes and at the first NUL; ret is the untruncated length", () => {
  const r = formatTracePrintk("[%2000d]", [5n, 0n, 0n], none);
  assert.ok(r.ok);
  assert.equal(r.ret, 2002);
  assert.equal(r.bytes.length, 1023);
  assert.equal(r.text, `[${" ".repeat(1022)}`);
  const z = formatTracePrintk("ab%ccd", [0n, 0n, 0n], none);
  assert.ok(z.ok && z.text === "ab" && z.ret === 5);
  // A format passed as bytes stops at its NUL, like the kernel's strnchr.
  const b = formatTracePrintk(Uint8Array.from([...enc.encode("x=%d\n"), 0, 0x41]), [9n, 0n, 0n], none);
  assert.ok(b.ok && b.text === "x=9\n");
});
