/**
 * Where the sign-in page goes next: `next` when it is a path of this centre (never another site: a link to
 * the sign-in page must not become a way to send someone elsewhere), else the floor.
 */

/** `next` if it is a path on this origin (not the sign-in page itself), else '/'. */
export function safeNext(raw: string | null, origin: string): string {
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  try {
    const u = new URL(raw, origin);
    if (u.origin !== origin || u.pathname === '/login') return '/';
    return u.pathname + u.search + u.hash;
  } catch {
    return '/';
  }
}
