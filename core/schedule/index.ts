export * from './cron.js';
export * from './plan.js';
export * from './run-id.js';
export * from './stages.js';
