// The variables GitHub Actions and GitLab CI set for a job, as the CI tests' stand-in for running in them.

/** The variables GitHub Actions sets for a job (docs.github.com, "Variables reference"), as one would see them. */
export const GITHUB_ENV = {
  GITHUB_ACTIONS: "true",
  GITHUB_SERVER_URL: "https://github.com",
  GITHUB_REPOSITORY: "acme/shop",
  GITHUB_REPOSITORY_ID: "123456",
  GITHUB_REPOSITORY_OWNER_ID: "7890",
  GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
  GITHUB_REF: "refs/heads/main",
  GITHUB_WORKFLOW_REF: "acme/shop/.github/workflows/build.yml@refs/heads/main",
  GITHUB_RUN_ID: "4242",
  GITHUB_RUN_ATTEMPT: "1",
  GITHUB_EVENT_NAME: "push",
  RUNNER_ENVIRONMENT: "github-hosted",
};

/** The variables GitLab CI sets for a job (docs.gitlab.com, "Predefined CI/CD variables"). */
export const GITLAB_ENV = {
  GITLAB_CI: "true",
  CI_SERVER_URL: "https://gitlab.example.com",
  CI_PROJECT_URL: "https://gitlab.example.com/acme/shop",
  CI_PROJECT_PATH: "acme/shop",
  CI_PROJECT_ID: "99",
  CI_COMMIT_SHA: "89abcdef0123456789abcdef0123456789abcdef",
  CI_COMMIT_REF_NAME: "main",
  CI_JOB_URL: "https://gitlab.example.com/acme/shop/-/jobs/555",
  CI_JOB_ID: "555",
  CI_JOB_NAME: "build-image",
  CI_PIPELINE_ID: "77",
  CI_PIPELINE_SOURCE: "push",
  CI_RUNNER_ID: "12",
  CI_RUNNER_VERSION: "17.5.0",
  CI_JOB_STARTED_AT: "2026-12-01T10:00:00Z",
};
