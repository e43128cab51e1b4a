// SLSA provenance v1 (https://slsa.dev/spec/v1.0/provenance) for an image, built from the variables the
// CI sets for the job: GitHub Actions (the fields GitHub's own attest-build-provenance records, under its
// build type https://actions.github.io/buildtypes/workflow/v1) or GitLab CI (the fields GitLab Runner's
// provenance records). Every variable is read strictly: a missing or malformed one is bad input naming
// it, never a provenance that says less than it seems to. Outside a known CI there is no provenance to
// build; the caller must say so explicitly (--no-provenance).
import { InputError } from "../core/errors.ts";

export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
export const GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1";

export type Env = Readonly<Record<string, string | undefined>>;

export interface CiPlatform {
  name: "github-actions" | "gitlab-ci";
  /** Shown in the summary: the run or job a person can open. */
  runUrl: string;
  predicate: SlsaProvenance;
}

export interface SlsaProvenance {
  buildDefinition: {
    buildType: string;
    externalParameters: Record<string, unknown>;
    internalParameters: Record<string, unknown>;
    resolvedDependencies: { uri: string; digest: Record<string, string> }[];
  };
  runDetails: {
    builder: { id: string };
    metadata: { invocationId: string; startedOn?: string };
  };
}

/** The CI this process runs in, as its variables say, with the provenance of its job; undefined outside one. */
export function detectCi(env: Env): CiPlatform | undefined {
  if (env.GITHUB_ACTIONS === "true") return githubActions(env);
  if (env.GITLAB_CI === "true") return gitlabCi(env);
  return undefined;
}

// ---------------------------------------------------------------------------------------------------
// GitHub Actions (docs.github.com: "Variables reference", default environment variables)

function githubActions(env: Env): CiPlatform {
  const v = reader(env, "GitHub Actions");
  const server = v.url("GITHUB_SERVER_URL");
  const repository = v.match("GITHUB_REPOSITORY", /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, "OWNER/REPO");
  const sha = v.match("GITHUB_SHA", /^[0-9a-f]{40}([0-9a-f]{24})?$/, "a commit id");
  const ref = v.match("GITHUB_REF", /^refs\/[^\s]+$/, "a ref (refs/…)");
  // owner/repo/.github/workflows/build.yml@refs/heads/main: the workflow file that ran, at which ref.
  const workflowRef = v.match("GITHUB_WORKFLOW_REF", /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[^@\s]+@[^\s]+$/, "OWNER/REPO/PATH@REF");
  const runId = v.match("GITHUB_RUN_ID", /^[0-9]+$/, "a number");
  const attempt = v.match("GITHUB_RUN_ATTEMPT", /^[0-9]+$/, "a number");
  const [workflowPath] = workflowRef.slice(workflowRef.indexOf("/", workflowRef.indexOf("/") + 1) + 1).split("@");
  const repoUrl = `${server}/${repository}`;
  const runUrl = `${repoUrl}/actions/runs/${runId}/attempts/${attempt}`;
  return {
    name: "github-actions",
    runUrl,
    predicate: {
      buildDefinition: {
        buildType: GITHUB_BUILD_TYPE,
        externalParameters: { workflow: { ref, repository: repoUrl, path: workflowPath } },
        internalParameters: {
          github: {
            event_name: v.match("GITHUB_EVENT_NAME", /^[a-z_]+$/, "an event name"),
            repository_id: v.match("GITHUB_REPOSITORY_ID", /^[0-9]+$/, "a number"),
            repository_owner_id: v.match("GITHUB_REPOSITORY_OWNER_ID", /^[0-9]+$/, "a number"),
            runner_environment: v.optional("RUNNER_ENVIRONMENT", /^[a-z-]+$/, "github-hosted or self-hosted") ?? "unknown",
          },
        },
        resolvedDependencies: [{ uri: `git+${repoUrl}@${ref}`, digest: { gitCommit: sha } }],
      },
      runDetails: { builder: { id: `${server}/${workflowRef}` }, metadata: { invocationId: runUrl } },
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// GitLab CI (docs.gitlab.com: "Predefined CI/CD variables reference")

function gitlabCi(env: Env): CiPlatform {
  const v = reader(env, "GitLab CI");
  const server = v.url("CI_SERVER_URL");
  const projectUrl = v.url("CI_PROJECT_URL");
  const projectPath = v.match("CI_PROJECT_PATH", /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/, "GROUP/PROJECT");
  const sha = v.match("CI_COMMIT_SHA", /^[0-9a-f]{40}([0-9a-f]{24})?$/, "a commit id");
  const refName = v.match("CI_COMMIT_REF_NAME", /^[^\s]+$/, "a branch or tag name");
  const jobUrl = v.url("CI_JOB_URL");
  const runnerId = v.match("CI_RUNNER_ID", /^[0-9]+$/, "a number");
  const runnerVersion = v.match("CI_RUNNER_VERSION", /^v?[0-9][0-9A-Za-z.+~-]*$/, "a version");
  const startedOn = v.optional("CI_JOB_STARTED_AT", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/, "an RFC 3339 time");
  const tag = env.CI_COMMIT_TAG ? `refs/tags/${refName}` : `refs/heads/${refName}`;
  return {
    name: "gitlab-ci",
    runUrl: jobUrl,
    predicate: {
      buildDefinition: {
        buildType: `https://gitlab.com/gitlab-org/gitlab-runner/-/blob/${runnerVersion.startsWith("v") ? runnerVersion : `v${runnerVersion}`}/PROVENANCE.md`,
        externalParameters: {
          source: projectUrl,
          entryPoint: v.match("CI_JOB_NAME", /^[^\n]+$/, "a job name"),
          ref: tag,
          pipelineSource: v.match("CI_PIPELINE_SOURCE", /^[a-z_]+$/, "a pipeline source"),
        },
        internalParameters: {
          gitlab: {
            project_id: v.match("CI_PROJECT_ID", /^[0-9]+$/, "a number"),
            pipeline_id: v.match("CI_PIPELINE_ID", /^[0-9]+$/, "a number"),
            job_id: v.match("CI_JOB_ID", /^[0-9]+$/, "a number"),
            runner_id: runnerId,
          },
        },
        resolvedDependencies: [{ uri: `git+${projectUrl}@${tag}`, digest: { gitCommit: sha } }],
      },
      runDetails: {
        builder: { id: `${server}/${projectPath}/-/runners/${runnerId}` },
        metadata: { invocationId: jobUrl, ...(startedOn && { startedOn }) },
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------

/** Reads variables strictly; every refusal names the variable and the CI that should have set it. */
function reader(env: Env, ci: string) {
  const fail = (name: string, expected: string): never => {
    const value = env[name];
    throw new InputError(
      `${name}: ${value === undefined || value === "" ? "not set" : `${JSON.stringify(value.slice(0, 80))} is not ${expected}`}; ${ci} sets it for every job, and the provenance needs it`,
    );
  };
  const match = (name: string, pattern: RegExp, expected: string): string => {
    const value = env[name];
    if (value === undefined || value.length > 1024 || !pattern.test(value)) return fail(name, expected);
    return value;
  };
  return {
    match,
    optional(name: string, pattern: RegExp, expected: string): string | undefined {
      return env[name] === undefined || env[name] === "" ? undefined : match(name, pattern, expected);
    },
    url(name: string): string {
      const value = env[name] ?? "";
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        // not a URL: refused below, and quoted, since it carries no credentials either
      }
      // A URL with credentials is refused without quoting it: the credentials must not reach a log.
      if (url && (url.username || url.password))
        throw new InputError(`${name}: a URL with credentials in it; give the server's URL alone (${ci} sets it so)`);
      if (!url || url.protocol !== "https:" || url.search || url.hash || /\s/.test(value))
        return fail(name, "an https:// URL without query or fragment");
      return value.replace(/\/+$/, "");
    },
  };
}
