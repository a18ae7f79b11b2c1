/** Reading what the wire said: TLS failures by their OpenSSL code, and Retry-After. */

/** Node/OpenSSL codes for a server that does not speak TLS at all (plain HTTP on the port). */
const NO_TLS_CODES = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_HTTP_REQUEST',
  'EPROTO',
]);
const CERT_CODE_RE = /CERT|SELF_SIGNED|UNABLE_TO_(GET_ISSUER|VERIFY)|ERR_TLS_CERT_ALTNAME_INVALID|HOSTNAME_MISMATCH/;

export function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code !== 'UND_ERR') return code;
    current = current.cause;
  }
  return undefined;
}

export function isCertificateError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && CERT_CODE_RE.test(code);
}

export function isNoTlsError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && NO_TLS_CODES.has(code);
}

/** Retry-After is seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Only the three HTTP-date forms count (`-1`, `+1`, `1.5` or garbage fall back to backoff; V8's
  // Date.parse would read some of them as dates). All are GMT: asctime has no zone, so it gets one.
  // Some servers write `UTC` for the zone (RFC 9110 says GMT; recipients should be lenient, §5.6.7).
  const imf = /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} (GMT|UTC)$/;
  const rfc850 = /^[A-Z][a-z]+, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} (GMT|UTC)$/;
  const asctime = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;
  let date = Number.NaN;
  if (imf.test(text) || rfc850.test(text)) date = Date.parse(text.replace(/UTC$/, 'GMT'));
  else if (asctime.test(text)) date = Date.parse(`${text} GMT`);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
