// Which kustomize Vigil renders with: the one place its release is pinned (scripts/setup.ts builds the
// same release for the tests, deploy/image/Containerfile installs it in the agent's image), and where
// the binary is looked for. Kept free of imports so the install script can read it before anything runs.

/** The kustomize release Vigil renders with: another release may render the same files differently. */
export const KUSTOMIZE_VERSION = "v5.8.2";

/** The Go package that release is built from (`go install MODULE@VERSION`). */
export const KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5";

/** Where Vigil's container image installs kustomize (deploy/image/Containerfile). */
export const DEFAULT_KUSTOMIZE_PATH = "/usr/local/bin/kustomize";

/** The environment variable that names the kustomize binary when the configuration does not. */
export const KUSTOMIZE_ENV = "VIGIL_KUSTOMIZE";

/**
 * The kustomize binary to run: the one the configuration names (the agent's `kustomize`), else
 * $VIGIL_KUSTOMIZE, else DEFAULT_KUSTOMIZE_PATH. Read at each call, never cached: whichever it is, the
 * render stage checks that it is KUSTOMIZE_VERSION before it runs it.
 */
export function kustomizeBinary(configured?: string): string {
  return configured ?? (process.env[KUSTOMIZE_ENV] || DEFAULT_KUSTOMIZE_PATH);
}
