/** cosign-style tags that belong to a subject digest: sha256-<hex>.sig / .att / .sbom. Pure. */
export const SIGNATURE_TAG = /^sha256-([a-f0-9]{64})\.(sig|att|sbom)$/;

export function signatureSubject(tag: string): string | undefined {
  const match = SIGNATURE_TAG.exec(tag);
  return match ? `sha256:${match[1]}` : undefined;
}
