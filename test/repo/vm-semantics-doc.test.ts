/**
 * docs/vm-semantics.md cites the tests that check each rule as a letter for the file and a part of
 * the test's name (T "34 times"). Every citation must name a test that exists and runs.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const DOC = "docs/vm-semantics.md";

/** The test files the document names, by their letter: "`test/....test.ts` (T)". */
function legend(doc: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const m of doc.matchAll(/`(test\/[\w/.-]+\.test\.ts)` \(([A-Z])\)/g))
    files.set(m[2] as string, m[1] as string);
  return files;
}

/** The test calls of a file: name and the options text, when there is one. */
function testsOf(source: string): { name: string; options: string }[] {
  const out: { name: string; options: string }[] = [];
  for (const m of source.matchAll(/\btest\(\s*"((?:[^"\\]|\\.)*)",\s*(\{[^}]*\})?/g)) {
    out.push({ name: JSON.parse(`"${m[1]}"`) as string, options: m[2] ?? "" });
  }
  return out;
}

test("every test docs/vm-semantics.md cites exists under that name and is not a todo", () => {
  const doc = readFileSync(DOC, "utf8");
  const files = legend(doc);
  assert.ok(files.size >= 3, `${DOC} names its test files with their letters`);
  const citations = [...doc.matchAll(/\b([A-Z]) "([^"]+)"/g)].map((m) => ({
    letter: m[1] as string,
    part: (m[2] as string).replace(/\s+/g, " "), // a citation may wrap across lines
  }));
  assert.ok(citations.length >= 20, `${DOC} cites its tests (found ${citations.length})`);
  const problems: string[] = [];
  for (const { letter, part } of citations) {
    const file = files.get(letter);
    if (file === undefined) {
      problems.push(`${letter} "${part}": no file has the letter ${letter}`);
      continue;
    }
    const found = testsOf(readFileSync(file, "utf8")).filter((t) => t.name.includes(part));
    if (found.length === 0) problems.push(`${letter} "${part}": no test in ${file} has that in its name`);
    for (const t of found)
      if (/\btodo\b/.test(t.options)) problems.push(`${letter} "${part}": "${t.name}" is a todo`);
  }
  assert.deepEqual(problems, []);
});

test("the citation check sees a missing test and a todo", () => {
  assert.deepEqual(
    testsOf(
      `test("a", { skip }, () => {});\ntest("b \\"q\\"", { todo: "later" }, () => {});\ntest("c", () => {});`,
    ),
    [
      { name: "a", options: "{ skip }" },
      { name: 'b "q"', options: '{ todo: "later" }' },
      { name: "c", options: "" },
    ],
  );
  assert.deepEqual(
    [...legend("`test/x/y.test.ts` (Q), `test/z.test.ts` (R)")],
    [
      ["Q", "test/x/y.test.ts"],
      ["R", "test/z.test.ts"],
    ],
  );
});
