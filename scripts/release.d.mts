// Types of scripts/release.mjs for the tests that import it.

/** A published package: its npm name and its folder, relative to the workspace root. */
export interface ReleasedPackage {
  name: string;
  dir: string;
}

/** Every non-private package of the workspace at `rootDir`, dependencies first. */
export function releasedPackages(rootDir?: string): ReleasedPackage[];
/** The published packages of this workspace, dependencies first. */
export const PACKAGES: ReleasedPackage[];
/** Builds and packs every package into `outDir` with pnpm; returns { name: tarball path }. */
export function packAll(outDir: string): Record<string, string>;
/** The file list and manifest of a tarball. */
export function readTarball(tarball: string): { files: string[]; manifest: Record<string, any> };
/** Problems with one tarball, as sentences; empty when it is fit to publish. */
export function checkTarball(tarball: string): string[];
/** The environment for npm, without pnpm's npm_config_* settings. */
export function npmEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
