export interface PromotionMetrics {
  accuracy: number;
  macroF1: number;
}

export interface CurrentModel {
  version: string;
  metrics: PromotionMetrics;
}

export interface PromotionRule {
  metric: 'accuracy' | 'macroF1';
  /** The candidate's metric must reach this, whatever the current model scores. */
  minimum: number;
  /** Promote a candidate that scores below the current model. */
  allowRegression: boolean;
}

export interface PromotionDecision {
  promote: boolean;
  /** One sentence for the run's status, with the figures compared. */
  reason: string;
}

/**
 * Whether a newly trained model replaces the current one: it must reach the
 * minimum, and then either be the first model, score at least as well as the
 * current one, or be allowed to regress.
 *
 * @example decidePromotion({ accuracy: 0.87, macroF1: 0.85 }, undefined,
 *   { metric: 'accuracy', minimum: 0.9, allowRegression: false })
 * // { promote: false, reason: 'accuracy 0.87 is below the minimum 0.90' }
 */
export function decidePromotion(
  candidate: PromotionMetrics,
  current: CurrentModel | undefined,
  rule: PromotionRule,
): PromotionDecision {
  const metric = rule.metric;
  const value = candidate[metric];
  if (!Number.isFinite(value)) {
    return {
      promote: false,
      reason: `${metric} of the new model is ${value}, not a number to compare`,
    };
  }

  if (value < rule.minimum) {
    const [v, m] = formatDistinct(value, rule.minimum);
    return { promote: false, reason: `${metric} ${v} is below the minimum ${m}` };
  }

  if (current === undefined) {
    return { promote: true, reason: `first model, ${metric} ${formatDistinct(value)[0]}` };
  }

  // A stored model from an older version may lack the metric the rule now uses.
  const baseline = current.metrics[metric] as number | undefined;
  if (baseline === undefined || !Number.isFinite(baseline)) {
    return {
      promote: true,
      reason: `${metric} ${formatDistinct(value)[0]}; ${current.version} has no ${metric} to compare`,
    };
  }

  const [v, b] = formatDistinct(value, baseline);
  if (value >= baseline) {
    return { promote: true, reason: `${metric} ${v} >= ${b} of ${current.version}` };
  }
  const regression = `${metric} ${v} regresses from ${b} of ${current.version}`;
  return rule.allowRegression
    ? { promote: true, reason: `${regression}, promoted because allowRegression is set` }
    : { promote: false, reason: regression };
}

/**
 * Formats numbers with two decimals, or more when two decimals would print
 * different numbers the same ("0.87 is below 0.87" helps nobody).
 */
function formatDistinct(...values: number[]): string[] {
  for (let digits = 2; digits < 10; digits++) {
    const texts = values.map((v) => v.toFixed(digits));
    if (new Set(texts).size === new Set(values).size) return texts;
  }
  return values.map(String);
}
