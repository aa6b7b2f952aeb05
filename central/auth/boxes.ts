/**
 * Sites and their boxes, as an admin manages them (the page and `earshot central box`): each change
 * audited in its own transaction. Removing a box or a site takes back its registration only: what it sent
 * stays in the store.
 */
import { KeyError, parsePublicKey, publicKeyText } from '../../lib/signing.js';
import { audit } from '../audit.js';
import { BoxTakenError, registerBoxIn, type Db, type Sql } from '../store/sql-store.js';
import { AccountError, checkLevel, type Actor } from './users.js';

export interface SiteView {
  site: string;
  createdAt: string;
  boxes: { box: string; registeredAt: string; availability: string | null; publicKey: string | null }[];
}

export async function listSites(sql: Sql): Promise<SiteView[]> {
  const sites = await sql.all<{ site: string; created_at: string }>('SELECT site, created_at FROM sites ORDER BY site');
  const boxes = await sql.all<{ site: string; box: string; registered_at: string; availability: string | null; public_key: string | null }>(
    'SELECT b.site, b.box, b.registered_at, b.public_key, s.availability FROM boxes b LEFT JOIN box_state s ON s.site = b.site AND s.box = b.box ORDER BY b.site, b.box',
  );
  return sites.map((s) => ({
    site: s.site,
    createdAt: s.created_at,
    boxes: boxes.filter((b) => b.site === s.site).map((b) => ({ box: b.box, registeredAt: b.registered_at, availability: b.availability, publicKey: b.public_key })),
  }));
}

/**
 * Registers a box at a site. With `rawPublicKey` (the line `earshot keys public` prints on the box) its
 * records are stored only when signed by that key (docs/mqtt.md, "Signatures"); given again, it replaces the
 * key before (a re-enrolled box).
 */
export async function addBox(db: Db, rawSite: unknown, rawBox: unknown, actor: Actor, rawPublicKey?: string): Promise<void> {
  const site = checkLevel('site', rawSite);
  const box = checkLevel('box', rawBox);
  let publicKey: string | undefined;
  try {
    publicKey = rawPublicKey === undefined ? undefined : publicKeyText(parsePublicKey(rawPublicKey, 'public key'));
  } catch (err) {
    if (err instanceof KeyError) throw new AccountError(400, err.message);
    throw err;
  }
  await db.tx(async (sql) => {
    const [held] = await sql.all<{ site: string; public_key: string | null }>('SELECT site, public_key FROM boxes WHERE box = ?', [box]);
    try {
      await registerBoxIn(sql, site, box, publicKey);
    } catch (err) {
      if (err instanceof BoxTakenError) throw new AccountError(409, err.message);
      throw err;
    }
    if (!held) await audit(sql, actor.name, 'box.add', { site, box, via: actor.via });
    if (publicKey !== undefined && publicKey !== held?.public_key) await audit(sql, actor.name, 'box.key', { site, box, publicKey, via: actor.via });
  });
}

export async function removeBox(db: Db, rawBox: unknown, actor: Actor): Promise<void> {
  const box = checkLevel('box', rawBox);
  await db.tx(async (sql) => {
    const [held] = await sql.all<{ site: string }>('SELECT site FROM boxes WHERE box = ?', [box]);
    if (!held) throw new AccountError(404, `no box ${box} is registered`);
    await sql.run('DELETE FROM boxes WHERE box = ?', [box]);
    await audit(sql, actor.name, 'box.remove', { site: held.site, box, via: actor.via });
  });
}

export async function removeSite(db: Db, rawSite: unknown, actor: Actor): Promise<void> {
  const site = checkLevel('site', rawSite);
  await db.tx(async (sql) => {
    if ((await sql.all('SELECT 1 AS x FROM sites WHERE site = ?', [site])).length === 0) throw new AccountError(404, `no site ${site} is registered`);
    const [n] = await sql.all<{ n: number }>('SELECT COUNT(*) AS n FROM boxes WHERE site = ?', [site]);
    if (Number(n.n) > 0) throw new AccountError(409, `site ${site} still has ${Number(n.n)} box(es): remove them first`);
    await sql.run('DELETE FROM sites WHERE site = ?', [site]);
    await audit(sql, actor.name, 'site.remove', { site, via: actor.via });
  });
}
