import { InvalidResponseError } from '../errors.js';
import { nextLink } from '../http/link.js';

/**
 * One loop for every paged listing: catalogs, tag lists and referrers. Each answer's
 * `Link: <…>; rel="next"` header (distribution-spec "Listing Tags", RFC 8288) names the next page;
 * a registry that keeps linking is stopped at `maxPages`, a link back to a page already read is a
 * loop, and a page that brings nothing new but links on is one too (a registry echoing `last`).
 */

export interface PageRead {
  /** Where the answer came from (relative links resolve against it). */
  url: URL;
  /** The answer's `Link` header. */
  link: string | undefined;
  /** Items this page added that no earlier page had; undefined when the caller does not count. */
  fresh?: number;
}

export async function followPages(
  first: string,
  what: { host: string; items: string; maxPages: number },
  read: (path: string | URL, index: number) => Promise<PageRead | 'stop'>,
): Promise<void> {
  const seen = new Set<string>();
  let next: string | URL | undefined = first;
  for (let index = 0; next !== undefined; index++) {
    if (index >= what.maxPages)
      throw new InvalidResponseError(`${what.host}: more than ${what.maxPages} pages of ${what.items}; stopping`);
    const page = await read(next, index);
    if (page === 'stop') return;
    const link = nextLink(page.link, page.url);
    if (link && page.fresh === 0)
      throw new InvalidResponseError(
        `${what.host}: a page of ${what.items} brought nothing new but links to another; stopping`,
      );
    if (link && seen.has(link.href))
      throw new InvalidResponseError(
        `${what.host}: pagination of ${what.items} loops back to ${link.pathname}${link.search}`,
      );
    if (link) seen.add(link.href);
    next = link;
  }
}
