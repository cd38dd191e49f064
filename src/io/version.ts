// The gan3d version, read once from the package.json beside src/ (or dist/), for metadata written into outputs.
import fs from 'node:fs';

let cached: string | null = null;

/** The `version` field of gan3d's package.json ('unknown' if it cannot be read). */
export function gan3dVersion(): string {
  if (cached === null) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
      cached = typeof pkg.version === 'string' ? pkg.version : 'unknown';
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
