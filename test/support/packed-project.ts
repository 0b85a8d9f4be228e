/**
 * The package as a user gets it: `npm pack`, the tarball installed into a fresh project with a
 * strict tsconfig (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, module
 * nodenext). Its dependencies are installed from this repository's node_modules, so that nothing
 * is fetched.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository the package is packed from. */
export const REPO = resolve(".");

/** The consumer project's tsconfig: as strict as users' projects get. */
export const STRICT_TSCONFIG = {
  compilerOptions: {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    module: "nodenext",
    moduleResolution: "nodenext",
    target: "es2022",
    lib: ["es2023", "esnext.disposable"],
    types: ["node"],
    typeRoots: [join(REPO, "node_modules/@types")],
    noEmit: true,
    skipLibCheck: false,
  },
  include: ["*.ts"],
};

/** Runs a command, failing the test with its output when it fails; returns its stdout. */
export function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: "utf8",
    timeout: 120_000,
    env: {
      ...process.env,
      npm_config_update_notifier: "false",
      npm_config_fund: "false",
      npm_config_audit: "false",
    },
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The package's runtime dependencies, from package.json. */
function dependencies(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  assert.ok(pkg.dependencies?.koffi !== undefined, "the package's dependencies are read");
  return pkg.dependencies;
}

/** A consumer project with the packed package installed; `remove()` deletes it. */
export interface PackedProject {
  /** The project directory (where the sources and tsconfig.json go). */
  dir: string;
  /** Writes `files` (name → source) into the project. */
  write(files: Record<string, string>): void;
  /** Runs tsc on the project: its exit status and output. */
  tsc(): { status: number | null; output: string };
  remove(): void;
}

/** Packs the package and installs it into a fresh strict project. */
export function packedProject(): PackedProject {
  assert.ok(existsSync(join(REPO, "dist/src/index.d.ts")), "the package is built (npm test builds first)");
  const root = mkdtempSync(join(tmpdir(), "tsbpf-packed-"));
  try {
    const packed = JSON.parse(
      run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", root], REPO),
    ) as { filename: string }[];
    const tarball = join(root, packed[0]?.filename ?? "");
    const dir = join(root, "project");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    run(
      "npm",
      [
        "install",
        "--offline",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        // Every runtime dependency (koffi, yaml, the Graphviz WebAssembly module) from this
        // repository's node_modules, so nothing is fetched.
        ...Object.keys(dependencies()).map((name) => join(REPO, "node_modules", name)),
        tarball,
      ],
      dir,
    );
    assert.ok(existsSync(join(dir, "node_modules/tsbpf/dist/src/index.d.ts")), "the tarball is installed");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(STRICT_TSCONFIG, null, 2));
    return {
      dir,
      write(files) {
        for (const [name, source] of Object.entries(files)) writeFileSync(join(dir, name), source);
      },
      tsc() {
        const r = spawnSync(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", dir], {
          cwd: dir,
          encoding: "utf8",
          timeout: 180_000,
        });
        return { status: r.status, output: `${r.stdout}${r.stderr}` };
      },
      remove: () => rmSync(root, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}
