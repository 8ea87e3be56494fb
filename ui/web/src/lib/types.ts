// The API's shapes, as the page reads them (ui/server/service.ts is the source).

export type Phase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Skipped';
export const STAGES = ['collect', 'clean', 'train', 'predict'] as const;
export type StageName = (typeof STAGES)[number];

export interface PipelineSummary {
  name: string;
  schedule: string;
  timeZone: string;
  suspended: boolean;
  nextRunAt?: string;
  lastRun?: {
    runId: string;
    phase: Phase;
    startedAt: string;
    finishedAt?: string;
    message?: string;
  };
  currentModel?: { version: string; accuracy: number; macroF1: number; promotedAt: string };
}

export interface PipelineDetail extends PipelineSummary {
  spec: {
    features: string[];
    label: string;
    train?: { promotion?: { metric?: string; minimum?: number; allowRegression?: boolean } };
  };
  modelStore: string;
  activeRuns: string[];
}

export interface StageRecord {
  stage: StageName;
  phase: Phase;
  startedAt?: string;
  finishedAt?: string;
  attempts: number;
  message?: string;
  summary?: Record<string, unknown>;
}

export interface RunRecord {
  pipeline: string;
  runId: string;
  trigger: 'schedule' | 'manual' | 'catch-up';
  scheduledAt?: string;
  startStage: StageName;
  phase: Phase;
  startedAt: string;
  finishedAt?: string;
  modelVersion?: string;
  message?: string;
  stages: StageRecord[];
}

export interface ModelSummary {
  version: string;
  runId: string;
  trainedAt: string;
  algorithm: string;
  accuracy: number;
  macroF1: number;
  rows: { total: number; train: number; test: number };
  promoted: boolean;
  promotionReason: string;
  current: boolean;
}

export interface ModelDocument {
  version: string;
  features: string[];
  label: string;
  classes: string[];
  featureRanges: { min: number; max: number }[];
  metrics: {
    accuracy: number;
    macroF1: number;
    confusionMatrix: number[][];
    perClass: { class: string; precision: number; recall: number; f1: number; support: number }[];
  };
  promotion: { promoted: boolean; reason: string; previousVersion?: string };
}

export interface StoredPrediction {
  pipeline: string;
  runId: string;
  modelVersion: string;
  rowKey: string;
  label: string;
  probability: number;
  scoredAt: string;
}

export interface PredictResult {
  modelVersion: string;
  label: string;
  probability: number;
  probabilities: Record<string, number>;
}

export interface ConnectionCheck {
  name: string;
  target: string;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface PipelineChange {
  pipeline: string;
  kind: 'pipeline' | 'run' | 'model';
  runId?: string;
}
