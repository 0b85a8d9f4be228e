/**
 * Every name the package exports, at its root and inside its namespaces (`kernel`, `net`...),
 * carries a TSDoc comment saying what it is for: read from the published declarations
 * (dist/src/index.d.ts), where the comments are what an editor shows a user.
 */
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { test } from "node:test";
import ts from "typescript";

/** `[name, documented]` for every export of `module`, namespaces flattened as `ns.name`. */
function exportsOf(checker: ts.TypeChecker, module: ts.Symbol, prefix = ""): [string, boolean][] {
  const out: [string, boolean][] = [];
  for (const e of checker.getExportsOfModule(module)) {
    const target = e.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(e) : e;
    const decl = target.declarations?.[0];
    if (decl !== undefined && ts.isSourceFile(decl)) {
      out.push(...exportsOf(checker, target, `${prefix}${e.name}.`));
      continue;
    }
    const doc = ts.displayPartsToString(target.getDocumentationComment(checker)).trim();
    out.push([`${prefix}${e.name}`, doc !== ""]);
  }
  return out;
}

test("every export of the package has a TSDoc comment", () => {
  const entry = resolve("dist/src/index.d.ts");
  const program = ts.createProgram([entry], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    types: ["node"],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(entry);
  assert.ok(source, `${entry} exists (npm test builds first)`);
  const module = checker.getSymbolAtLocation(source);
  assert.ok(module, "the entry is a module");
  const all = exportsOf(checker, module);
  assert.ok(all.length > 100 && all.some(([n]) => n === "kernel.KernelCollection"), "namespaces are walked");
  assert.deepEqual(
    all.filter(([, documented]) => !documented).map(([n]) => n),
    [],
    "exports without TSDoc",
  );
});
