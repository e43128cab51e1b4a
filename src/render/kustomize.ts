// Running the pinned kustomize binary on a kustomization tree that kustomization.ts has checked: an
// empty environment, root-only loading, no plugin, exec, helm or network flags, a time limit and an
// output limit. Each rendered object is attributed to the file it came from through kustomize's own
// origin annotations, which are removed again before the objects are returned.
import { spawn } from "node:child_process";
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { InputError, UnavailableError } from "../core/errors.ts";
import { parseManifestFile, type KubeObject, type SourcedObject } from "../manifest/manifests.ts";
import { parseManifestsByDocument } from "./documents.ts";
import { displayPath, isInside, type Boundary, type CheckedKustomization } from "./kustomization.ts";
import { KUSTOMIZE_ENV, KUSTOMIZE_VERSION } from "./kustomize-release.ts";

export interface KustomizeLimits {
  /** The kustomize binary (its version must be KUSTOMIZE_VERSION). */
  binary: string;
  timeoutMs: number;
  maxOutputBytes: number;
  /**
   * The most memory kustomize may take (its data segment, RLIMIT_DATA, set through util-linux's
   * prlimit; Go's soft GOMEMLIMIT below it): a small kustomization that expands without bound fails
   * on its own, instead of taking the agent's node down. Undefined: no limit (the version check).
   */
  memoryLimitBytes?: number;
}

/** util-linux's prlimit, which sets a resource limit on the process it starts. */
const PRLIMIT = "/usr/bin/prlimit";

const ORIGIN = "config.kubernetes.io/origin";

/**
 * No variable of the agent's environment reaches kustomize (no credentials, no HOME, no PATH: it
 * finds no git to clone with). The proxy variables point at a closed port, so that an HTTP download,
 * which kustomize would make itself, fails even if a URL got past the checks.
 */
const CLEAN_ENV = { HTTPS_PROXY: "http://127.0.0.1:1", HTTP_PROXY: "http://127.0.0.1:1", NO_PROXY: "" };

/** The flags of every build. Never --enable-alpha-plugins, --enable-exec, --enable-helm or --network. */
const BUILD_FLAGS = ["--load-restrictor", "LoadRestrictionsRootOnly"];

export async function kustomizeBuild(
  top: CheckedKustomization,
  envDirReal: string,
  boundary: Boundary,
  limits: KustomizeLimits,
): Promise<SourcedObject[]> {
  await checkVersion(limits.binary);
  const userMetadata = stringList(top.content.buildMetadata);
  // The origin annotations come from a wrapper kustomization that lists the environment's folder as
  // its only resource and turns them on. Only the top kustomization's sortOptions and buildMetadata
  // count (kustomize ignores them below the top), so the wrapper carries the environment's own. An
  // openapi field or a Component at the top would change meaning one level down: build those as
  // they are, attributed to the kustomization file.
  const wrap = top.content.openapi === undefined && top.content.kind !== "Component";
  // Real path: kustomize resolves symlinks in its root, and the relative path below must hold from there.
  const scratch = realpathSync(mkdtempSync(join(tmpdir(), "vigil-render-")));
  try {
    let target = envDirReal;
    if (wrap) {
      const wrapper: Record<string, unknown> = {
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: [relative(scratch, envDirReal)],
        buildMetadata: [...new Set([...userMetadata, "originAnnotations"])],
      };
      if (top.content.sortOptions !== undefined) wrapper.sortOptions = top.content.sortOptions;
      writeFileSync(join(scratch, "kustomization.yaml"), JSON.stringify(wrapper));
      target = scratch;
    }
    const result = await runKustomize(limits, ["build", target, ...BUILD_FLAGS], scratch);
    if (result.code !== 0 && limits.memoryLimitBytes && /out of memory|cannot allocate memory/i.test(result.stderr)) {
      throw new InputError(
        `${top.display}: kustomize needed more than its memory limit of ${limits.memoryLimitBytes >> 20} MiB (limits.kustomizeMemory in the agent's configuration); a kustomization that expands that much is refused`,
      );
    }
    if (result.code !== 0) {
      // The wrapper's paths would muddle kustomize's message: ask again without it.
      const direct = wrap ? await runKustomize(limits, ["build", envDirReal, ...BUILD_FLAGS], scratch) : result;
      throw new InputError(`${top.display}: kustomize build failed: ${kustomizeMessage(direct.code === 0 ? result : direct)}`);
    }
    // A document at a time, each bounded (documents.ts), as a plain folder's files are.
    const rendered = parseManifestsByDocument(result.stdout, top.display);
    if (!wrap) return rendered;
    const keepOrigin = userMetadata.includes("originAnnotations");
    const lines = new LineFinder();
    return rendered.map(({ object }) => attribute(object, { scratch, envDir: envDirReal, boundary, top, keepOrigin, lines }));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kustomize with the limits; a timeout or too much output is bad input, it kills the process. */
function runKustomize(limits: KustomizeLimits, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const limited = limits.memoryLimitBytes !== undefined;
    const [program, argv] = limited
      ? [PRLIMIT, [`--data=${limits.memoryLimitBytes}`, "--", limits.binary, ...args]]
      : [limits.binary, args];
    const env = limited ? { ...CLEAN_ENV, GOMEMLIMIT: String(Math.floor(limits.memoryLimitBytes! * 0.8)) } : CLEAN_ENV;
    const child = spawn(program, argv, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let failure: Error | undefined;
    const stop = (e: Error) => {
      failure ??= e;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(
      () =>
        stop(
          new InputError(
            `kustomize did not finish within ${limits.timeoutMs / 1000} s; a kustomization that large or that deep is refused`,
          ),
        ),
      limits.timeoutMs,
    );
    child.stdout.on("data", (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > limits.maxOutputBytes)
        stop(new InputError(`kustomize rendered more than ${limits.maxOutputBytes} bytes; split the environment or raise the limit`));
      else out.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      // Enough of stderr for its message; the rest is dropped, not buffered without bound.
      if (errBytes < 64 * 1024) err.push(chunk);
      errBytes += chunk.length;
    });
    child.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        e.code === "ENOENT" || e.code === "EACCES"
          ? new UnavailableError(
              limited
                ? `${PRLIMIT} (util-linux), which sets kustomize's memory limit, cannot run: install util-linux`
                : `kustomize ${KUSTOMIZE_VERSION} is not at ${limits.binary}: run "node scripts/setup.ts" to build it (a checkout), or install that release there or name it with the agent's kustomize or $${KUSTOMIZE_ENV} (docs/render.md)`,
            )
          : e,
      );
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      resolvePromise({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

/** kustomize's error, without its "Error: " prefix and usage text. */
function kustomizeMessage(run: Run): string {
  const text = run.stderr.trim() || `exit status ${run.code}`;
  return text
    .replace(/^Error: /, "")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .slice(0, 20)
    .join("\n");
}

const versionChecks = new Map<string, Promise<void>>();

/** The binary must be the pinned release: another kustomize may render the same files differently. */
function checkVersion(binary: string): Promise<void> {
  let check = versionChecks.get(binary);
  if (!check) {
    check = runKustomize({ binary, timeoutMs: 30_000, maxOutputBytes: 64 * 1024 }, ["version"], tmpdir()).then((r) => {
      const version = r.stdout.trim();
      if (r.code !== 0 || version !== KUSTOMIZE_VERSION) {
        throw new UnavailableError(
          `${binary} is kustomize ${version || "(no version)"}, not the pinned ${KUSTOMIZE_VERSION}: install that release (docs/render.md), or run "node scripts/setup.ts" in a checkout`,
        );
      }
    });
    // A failed check is not remembered: setup may be run while the agent waits.
    check.catch(() => versionChecks.delete(binary));
    versionChecks.set(binary, check);
  }
  return check;
}

interface Attribution {
  scratch: string;
  envDir: string;
  boundary: Boundary;
  top: CheckedKustomization;
  keepOrigin: boolean;
  lines: LineFinder;
}

/**
 * The file an object came from, from its origin annotation: `path` for an object read from a file,
 * `configuredIn` for one a generator made. Paths are relative to the wrapper's folder.
 */
function attribute(object: KubeObject, a: Attribution): SourcedObject {
  const annotations = object.metadata?.annotations;
  const origin = annotations?.[ORIGIN];
  if (annotations && origin !== undefined) {
    if (!a.keepOrigin) {
      delete annotations[ORIGIN];
      if (Object.keys(annotations).length === 0) delete object.metadata!.annotations;
    }
  }
  const fallback = { object, file: a.top.display, line: 1 };
  if (origin === undefined) return fallback;
  let parsed: { path?: unknown; configuredIn?: unknown; [k: string]: unknown };
  try {
    parsed = parseYaml(origin) ?? {};
  } catch {
    return fallback;
  }
  const key = typeof parsed.path === "string" ? "path" : typeof parsed.configuredIn === "string" ? "configuredIn" : undefined;
  if (key === undefined) return fallback;
  const real = resolve(a.scratch, parsed[key] as string);
  if (!isInside(a.boundary.realRoot, real)) return fallback;
  if (a.keepOrigin) {
    // The kustomization asked for the annotations: they say what kustomize's own build would say,
    // paths relative to the environment's folder, not to the wrapper.
    annotations![ORIGIN] = stringifyYaml({ ...parsed, [key]: relative(a.envDir, real) });
  }
  const line = key === "path" ? a.lines.lineOf(real, object) : 1;
  return { object, file: displayPath(a.boundary, real), line };
}

/**
 * The line where an object starts in the file it came from. kustomize says which file, not where in
 * it: the object is found by kind, and by name where the file has several of that kind (a name prefix
 * or suffix may have been added since).
 */
class LineFinder {
  private readonly files = new Map<string, SourcedObject[]>();

  lineOf(file: string, object: KubeObject): number {
    let sources = this.files.get(file);
    if (!sources) {
      try {
        sources = parseManifestFile(file);
      } catch {
        sources = [];
      }
      this.files.set(file, sources);
    }
    const sameKind = sources.filter((s) => s.object.kind === object.kind);
    if (sameKind.length === 1) return sameKind[0]!.line;
    const name = object.metadata?.name ?? "";
    const named = sameKind
      .filter((s) => s.object.metadata?.name && name.includes(s.object.metadata.name))
      .sort((x, y) => y.object.metadata!.name!.length - x.object.metadata!.name!.length);
    return named[0]?.line ?? sameKind[0]?.line ?? 1;
  }
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}
