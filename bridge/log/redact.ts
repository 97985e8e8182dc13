/**
 * Secrets in log lines and error messages. An RPC URL often carries an API key in its path, query
 * or user info (`https://eth-mainnet.g.alchemy.com/v2/KEY`), and viem puts the URL it called into
 * its error messages. A redactor built from the configured secret URLs replaces every form of them
 * (the whole URL, and its path/query/credentials on their own) with the URL's origin and a marker.
 */
export type Redactor = (text: string) => string;

const MARK = "[redacted]";

/** The pieces of a URL that may be secret, longest first, with what each is replaced by. */
function secretPartsOf(url: string): [string, string][] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url ? [[url, MARK]] : [];
  }
  const origin = `${u.protocol}//${u.host}`;
  const parts: [string, string][] = [[url, `${origin}/${MARK}`]];
  const rest = `${u.pathname}${u.search}`;
  const noSlash = url.endsWith("/") ? url.slice(0, -1) : `${url}/`;
  parts.push([noSlash, `${origin}/${MARK}`]);
  // A path or query longer than "/" may hold a key: redact it wherever it appears alone too.
  if (rest.length > 1) parts.push([rest, `/${MARK}`]);
  if (u.search.length > 1) parts.push([u.search.slice(1), MARK]);
  for (const segment of u.pathname.split("/")) if (segment.length >= 16) parts.push([segment, MARK]);
  if (u.password) parts.push([decodeURIComponent(u.password), MARK], [u.password, MARK]);
  // A user name alone before the host is often the key itself (https://KEY@host); beside a password
  // it is a name (Redis's "default"), redacted only as "name:".
  if (u.username && !u.password && u.username.length >= 8) parts.push([u.username, MARK]);
  else if (u.username) parts.push([`${u.username}:`, `${MARK}:`]);
  for (const [, value] of u.searchParams) if (value.length >= 4) parts.push([value, MARK]);
  // The same pieces URL-encoded (a URL inside another URL's query, an encoded error message).
  return parts.flatMap(([secret, replacement]) => {
    const encoded = encodeURIComponent(secret);
    return encoded === secret
      ? [[secret, replacement]]
      : [
          [secret, replacement],
          [encoded, replacement],
        ];
  });
}

/** A redactor for these secret URLs (and other secret strings); empty entries are ignored. */
export function createRedactor(secrets: (string | undefined)[]): Redactor {
  const parts = secrets
    .filter((s): s is string => !!s)
    .flatMap(secretPartsOf)
    .sort((a, b) => b[0].length - a[0].length);
  if (parts.length === 0) return (text) => text;
  return (text) => {
    let out = text;
    for (const [secret, replacement] of parts) {
      if (out.includes(secret)) out = out.split(secret).join(replacement);
      // JSON log lines escape "/" in no case but do escape quotes: also try the JSON-escaped form.
      const escaped = JSON.stringify(secret).slice(1, -1);
      if (escaped !== secret && out.includes(escaped)) out = out.split(escaped).join(replacement);
    }
    return out;
  };
}
