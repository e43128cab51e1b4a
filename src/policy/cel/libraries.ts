// The function libraries Kubernetes offers to ValidatingAdmissionPolicy expressions, on top of CEL's
// standard library: each module exports its functions as a CelFunc[]; this list is the environment.
import type { CelFunc } from "@bufbuild/cel";
import { strings } from "@bufbuild/cel/ext";
import { manifestSetLibrary } from "./manifest-set.ts";

export const kubernetesLibraries: readonly CelFunc[] = [...strings, ...manifestSetLibrary()];
