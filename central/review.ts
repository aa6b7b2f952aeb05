import { SEVERITIES, type Severity } from '../edge/rules/types.js';

// The brief assumed critical>high>medium>low>info; the edge only emits these three.
export function severityRank(s: string): number {
  return SEVERITIES.indexOf(s as Severity); // unknown severities sort last (-1)
}

export interface ReviewedScore { score: number; confirmed: boolean }
export interface ThresholdRow { threshold: number; kept: number; confirmed: number; precision: number | null }

// What precision a rule would have had if alerts scoring below each threshold had been dropped.
// Distinct scores are exact for small sets; beyond 10 we fall back to deciles to keep the table readable.
export function thresholdTable(items: readonly ReviewedScore[]): ThresholdRow[] {
  const distinct = [...new Set(items.map((i) => i.score))].sort((a, b) => a - b);
  const thresholds = distinct.length <= 10
    ? distinct
    : [...new Set(Array.from({ length: 10 }, (_, k) => distinct[Math.floor((k * distinct.length) / 10)]!))];
  return thresholds.map((threshold) => {
    const kept = items.filter((i) => i.score >= threshold);
    const confirmed = kept.filter((i) => i.confirmed).length;
    return { threshold, kept: kept.length, confirmed, precision: kept.length ? confirmed / kept.length : null };
  });
}
