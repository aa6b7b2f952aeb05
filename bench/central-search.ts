/**
 * Search figures for the central benchmark: ten fixed queries of each kind of the query language, worded
 * from the bundled demo calls' transcripts (which the generated calls are reworded from), each timed as
 * one first page through `searchCalls` (no HTTP), as an admin of every site. Pass `searchQueryKinds()` as
 * the benchmark's extra query kinds (bench/central.ts `centralBench(extra)`).
 */
import type { Store } from '../central/store/store.js';
import type { SqlStore } from '../central/store/sql-store.js';
import { searchCalls, type SearchFilter } from '../central/search/search.js';

export const SEARCH_QUERIES: Record<string, string[]> = {
  word: ['refund', 'guaranteed', 'internet', 'sorry', 'money', 'principal', 'stock', 'impossible', 'percent', 'zzyzx'],
  phrase: ['"thank you for calling"', '"inside information"', '"let me check"', '"my money safe"', '"fifteen pounds"', '"guaranteed return"', '"how can i"', '"a whole week"', '"buy the stock today"', '"not sure"'],
  boolean: ['refund OR guaranteed', 'sorry AND week', 'money safe', '(stock OR rates) AND principal', 'internet OR bill OR phone', 'impossible unacceptable', 'hello AND NOT money', 'refunded OR refund', 'thanks goodby', 'fifteen AND (pounds OR percent)'],
  near: ['refund NEAR/10 pounds', 'guaranteed NEAR/5 return', 'sorry NEAR/20 check', 'money NEAR/5 safe', 'stock NEAR/10 today', 'internet NEAR/10 bill', '"thank you" NEAR/5 calling', 'impossible NEAR/10 unacceptable', '验证码 NEAR/10 银行卡', 'principal NEAR/30 rates'],
  scoped: ['customer:refund', 'agent:guaranteed', 'customer:(impossible OR unacceptable)', 'agent:"thank you for calling"', 'customer:money', 'agent:sorry customer:week', 'customer:验证码', 'agent:银行卡', 'agent:stock NOT customer:sure', 'customer:hello'],
  window: ['first:10s hello', 'last:15s goodby', 'first:5s agent:(northwin OR afternoon)', 'last:20s thanks', 'first:30s guaranteed', 'last:10s (goodby OR 再见)', 'first:20s internet', 'last:30s refunded', 'first:15s 您好', 'NOT last:20s agent:goodby'],
  chinese: ['验证码', '银行卡', '密码', '您好', '转账', '"yan zheng ma"', '你好 OR 您好', '银行卡 密码', 'customer:你好', '问题'],
  not: ['NOT refund', 'NOT agent:sorry', 'NOT (refund OR guaranteed)', 'NOT customer:hello', 'NOT 验证码', 'NOT last:20s goodby', 'NOT first:10s hello', 'NOT stock', 'NOT "thank you for calling"', 'NOT money'],
};

const timeQueries = (queries: string[], filter: SearchFilter) => async (store: Store) => {
  const times: number[] = [];
  for (const q of queries) {
    const t0 = performance.now();
    await searchCalls(store as SqlStore, '*', q, filter, { limit: 20 });
    times.push(performance.now() - t0);
  }
  return times;
};

/**
 * `search`: every query of every kind, one first page each (20 calls), times in ms (the figure the goal is
 * about); with `perKind`, also `search_<kind>` for each kind's ten.
 */
export function searchQueryKinds(options: { filter?: SearchFilter; perKind?: boolean } = {}): Record<string, (store: Store) => Promise<number[]>> {
  const filter = options.filter ?? {};
  const kinds: Record<string, (store: Store) => Promise<number[]>> = { search: timeQueries(Object.values(SEARCH_QUERIES).flat(), filter) };
  if (options.perKind) for (const [kind, queries] of Object.entries(SEARCH_QUERIES)) kinds[`search_${kind}`] = timeQueries(queries, filter);
  return kinds;
}
