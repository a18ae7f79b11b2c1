/**
 * Query parameters that carry secrets: token flows, and the signed URLs that registries redirect
 * blob downloads to (S3 `X-Amz-Signature`/`X-Amz-Credential`, GCS `X-Goog-*`, Azure SAS `sig`,
 * `se`, `sp`, `sv`, `skoid`…, CloudFront `Signature`/`Key-Pair-Id`): the URL itself is a credential.
 */
const SECRET_PARAM =
  /token|password|secret|auth|code|signature|credential|^x-amz-|^x-goog-|^(sig|se|sp|sv|sr|st|si|spr|skoid|sktid|skt|ske|sks|skv|key-pair-id|policy|expires)$/i;

/** A URL fit for logs and messages: no user info, secret parameters replaced. */
export function redactUrl(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  for (const key of [...copy.searchParams.keys()]) {
    if (SECRET_PARAM.test(key)) copy.searchParams.set(key, 'REDACTED');
  }
  return copy.href;
}
