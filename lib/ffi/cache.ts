/**
 * Where an installed native library lives, and the command that installs it for the URL the
 * module was imported from. Shared by the loader (`library.ts`) and the installer
 * (`install.ts`), so both agree on every path.
 *
 * @module
 */
import { VERSION } from "./native_sources.ts";

/** File name of the native library. */
export const LIBRARY_NAME = "libpluvio.so";

function envVar(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: fall back to the default
  }
}

/**
 * The per-version cache directory: `$PLUVIO_CACHE_DIR/<version>`, else
 * `$XDG_CACHE_HOME/pluvio/<version>`, else `~/.cache/pluvio/<version>`; `undefined` when
 * none of these variables is set (or readable).
 */
export function cacheDir(version: string = VERSION): string | undefined {
  const own = envVar("PLUVIO_CACHE_DIR");
  if (own) return `${own.replace(/\/+$/, "")}/${version}`;
  const xdg = envVar("XDG_CACHE_HOME");
  if (xdg) return `${xdg.replace(/\/+$/, "")}/pluvio/${version}`;
  const home = envVar("HOME");
  if (home) return `${home.replace(/\/+$/, "")}/.cache/pluvio/${version}`;
  return undefined;
}

/** The package root (the directory of `mod.ts` and `install.ts`) as a URL ending in `/`. */
export const PACKAGE_ROOT: URL = new URL("../../", import.meta.url);

/**
 * The command that installs the native library for a package rooted at `root`: the JSR
 * specifier for jsr.io, the URL of `install.ts` for other http(s) origins, and for a local
 * copy the checkout's build task or the local `install.ts`.
 */
export function installCommand(root: URL = PACKAGE_ROOT): string {
  if (root.protocol === "file:") {
    const dir = decodeURIComponent(root.pathname).replace(/\/$/, "");
    return `deno task build   (in the checkout ${dir}; or: deno run -A ${dir}/install.ts)`;
  }
  const jsr = /^\/(@[^/]+\/[^/]+)\/([^/]+)\/$/.exec(root.pathname);
  if (root.hostname === "jsr.io" && jsr) return `deno run -A jsr:${jsr[1]}@${jsr[2]}/install`;
  return `deno run -A ${new URL("install.ts", root).href}`;
}
