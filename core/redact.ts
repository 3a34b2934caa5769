/**
 * Secret redaction. Passwords, tokens, nkey seeds and API keys reach Lookout through its configuration; they
 * must never come back out in `lookout env`, logs, error messages or result rows. Rather than trusting every
 * log line and every library's error text to leave them out, the CLI registers the configured secret values
 * here once and every outgoing text passes through `redact`: a value is replaced wherever it appears, inside
 * a URL, a JSON dump or a third-party error message alike.
 *
 * Pure (no Node imports) so that core/ stays workflow-safe; the registry is per process (per isolate).
 */

/** What a secret is replaced with. */
export const REDACTED = '[redacted]';

/** Values shorter than this are not registered: replacing every "a" or "1" would garble all output. */
export const MIN_SECRET_LENGTH = 4;

const secrets = new Set<string>();

/**
 * Registers values to be hidden from then on. Also registers each value's URL-encoded form (a password inside
 * a connection URL is percent-encoded), so both spellings are caught.
 */
export function registerSecrets(values: Iterable<string | undefined>): void {
  for (const v of values) {
    if (!v || v.length < MIN_SECRET_LENGTH) continue;
    secrets.add(v);
    const enc = encodeURIComponent(v);
    if (enc !== v) secrets.add(enc);
    // Multi-line secrets (a PEM key, a .creds file) are also hidden line by line: a library may print one line.
    for (const line of v.split(/\r?\n/)) if (line.trim().length >= 16) secrets.add(line.trim());
  }
}

/** Forgets every registered secret (tests). */
export function clearSecrets(): void {
  secrets.clear();
}

/** Number of registered secret spellings (tests, diagnostics). */
export function secretCount(): number {
  return secrets.size;
}

/** `user:password@` in any URL-like text: the password is replaced even when it was never registered. */
const URL_USERINFO_RE = /([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]+@/gi;

/** Replaces every registered secret, and the password of any URL with credentials, by REDACTED. */
export function redact(text: string): string {
  let out = text.replace(URL_USERINFO_RE, `$1${REDACTED}@`);
  if (secrets.size === 0) return out;
  // Longest first, so that a secret containing another is hidden whole.
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (out.includes(s)) out = out.split(s).join(REDACTED);
  }
  return out;
}

/** An error's message (and its causes' messages) with secrets redacted, for printing or storing. */
export function redactedMessage(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? (e as Error & { cause?: unknown }).cause : undefined;
  }
  return redact(parts.join(': caused by: '));
}
