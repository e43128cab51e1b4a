// .NET packages: *.deps.json, which the SDK writes beside every application: its "libraries" map
// "Name/Version" to {type: "package" | "project" | "reference"}; only NuGet packages are components.
import type { Component } from "../model.ts";
import { purl } from "../purl.ts";
import type { Cataloger } from "./cataloger.ts";
import { component, isRecord, readJson } from "./common.ts";

export const dotnetCataloger: Cataloger = {
  name: "dotnet",
  wants: (path) => (path.endsWith(".deps.json") ? "content" : undefined),
  catalog(tree, context) {
    const out: Component[] = [];
    for (const file of tree.select((p) => p.endsWith(".deps.json"))) {
      const json = readJson(file, context);
      if (!isRecord(json) || !isRecord(json.libraries)) continue;
      for (const [key, library] of Object.entries(json.libraries)) {
        const slash = key.lastIndexOf("/");
        if (slash <= 0 || !isRecord(library) || library.type !== "package") continue;
        const name = key.slice(0, slash);
        const version = key.slice(slash + 1);
        out.push(
          component(file, { name, version, ecosystem: "nuget", purl: purl("nuget", undefined, name, version), foundBy: "dotnet-deps" }),
        );
      }
    }
    return out;
  },
};
