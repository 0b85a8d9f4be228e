import { test } from "node:test";
import assert from "node:assert/strict";
import { parseTraceLine } from "../../src/trace/trace-line.js";

test("parseTraceLine reads trace_pipe lines, including awkward task names", () => {
  assert.deepEqual(
    parseTraceLine(
      "          <idle>-0       [003] ..s2.  8853.538349: bpf_trace_printk: Packet to port 8080 processed",
    ),
    {
      task: "<idle>",
      pid: 0,
      cpu: 3,
      flags: "..s2.",
      timestamp: 8853.538349,
      fn: "bpf_trace_printk",
      message: "Packet to port 8080 processed",
    },
  );
  const k = parseTraceLine(
    " kworker/u8:2-ev 1-4711    [000] b..11   441.804678: bpf_trace_printk: a: b: c\n",
  );
  assert.equal(k?.task, "kworker/u8:2-ev 1");
  assert.equal(k?.pid, 4711);
  assert.equal(k?.message, "a: b: c");
  const tg = parseTraceLine("           bash-123   (    120) [001] d..1.    10.000001: bpf_trace_printk: x");
  assert.equal(tg?.tgid, 120);
  assert.equal(tg?.pid, 123);
  const old = parseTraceLine("ping-99 [002] d.s1  5.5: bpf_trace_printk: old four-char flags");
  assert.equal(old?.flags, "d.s1");
  assert.equal(old?.timestamp, 5.5);
  const empty = parseTraceLine("a-1 [000] ..... 1.000000: bpf_trace_printk: ");
  assert.equal(empty?.message, "");
  const tab = parseTraceLine("bpftool-10073   [001] b..11   441.804694: bpf_trace_printk: tab\there");
  assert.equal(tab?.message, "tab\there");
  for (const bad of [
    "",
    "# tracer: nop",
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
    "continuation of a message",
    "x-1 [a] ..... 1.0: f: m",
  ]) {
    assert.equal(parseTraceLine(bad), undefined, bad);
  }
});
