// The render stage's public surface: an environment's folder in a checked-out revision becomes the
// objects the gates check and the agent applies. See docs/render.md.
export { renderDirectory, type RenderOptions } from "./render.ts";
export { renderRevision, type RenderedRevision } from "./revision.ts";
export { DEFAULT_KUSTOMIZE_PATH, KUSTOMIZE_ENV, KUSTOMIZE_VERSION, kustomizeBinary } from "./kustomize-release.ts";
export { KUSTOMIZATION_FILE_NAMES } from "./kustomization.ts";
