/** A registry repository's tags as `compare` sees them (sync/sync.ts reads them, engine/compare.ts compares). */
export interface RemoteTags {
  /** tag → digest for listed tags. */
  listed: Map<string, string>;
  /** Named tags the registry does not have (digest null). */
  assumed: Map<string, string | null>;
  /** The spec named its tags (`:TAG`, `=TAG1,TAG2`): other local tags are not compared. */
  namedOnly?: boolean;
}
