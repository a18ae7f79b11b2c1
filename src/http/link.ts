import { InvalidResponseError } from '../errors.js';

/**
 * Finds the rel="next" target of an RFC 8288 `Link` header, e.g.
 *   </v2/_catalog?last=b&n=1000>; rel="next"
 * resolved against the current URL. The target must stay on the same scheme and host: a
 * hostile or misconfigured registry must not be able to send our credentials elsewhere.
 */
export function nextLink(header: string | undefined, current: URL): URL | undefined {
  if (!header) return undefined;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!match) continue;
    const params = match[2]!;
    // rel is a token or a quoted string; a quote opened and never closed is a malformed header
    // (RFC 8288 §3): its target is not followed.
    if (!/;\s*rel\s*=\s*("([^"]*\s)?next(\s[^"]*)?"|next)\s*(;|$)/i.test(params)) continue;
    const target = new URL(match[1]!, current);
    if (target.protocol !== current.protocol || target.host !== current.host) {
      throw new InvalidResponseError(
        `pagination link from ${current.host} points to ${target.protocol}//${target.host}: refusing to follow a link off the registry`,
      );
    }
    return target;
  }
  return undefined;
}
