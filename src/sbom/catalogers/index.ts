// The catalogers, in the order the issue gives: OS packages first, then each language ecosystem.
import { apkCataloger } from "./apk.ts";
import type { Cataloger } from "./cataloger.ts";
import { dotnetCataloger } from "./dotnet.ts";
import { dpkgCataloger } from "./dpkg.ts";
import { goCataloger } from "./go.ts";
import { javaCataloger } from "./java.ts";
import { npmCataloger } from "./npm.ts";
import { OS_RELEASE_FILES } from "./os-release.ts";
import { phpCataloger } from "./php.ts";
import { pythonCataloger } from "./python.ts";
import { rpmCataloger } from "./rpm.ts";
import { rubyCataloger } from "./ruby.ts";
import { rustCataloger } from "./rust.ts";

/** os-release is read by the generator itself, before any cataloger runs. */
const osReleaseFiles: Cataloger = {
  name: "os-release",
  wants: (path) => (OS_RELEASE_FILES.has(path) ? "content" : undefined),
  catalog: () => [],
};

export const CATALOGERS: readonly Cataloger[] = [
  osReleaseFiles,
  dpkgCataloger,
  apkCataloger,
  rpmCataloger,
  npmCataloger,
  pythonCataloger,
  goCataloger,
  javaCataloger,
  rustCataloger,
  rubyCataloger,
  phpCataloger,
  dotnetCataloger,
];
