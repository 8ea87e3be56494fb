/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go does it
 * (client-node has none): the leader renews the Lease; the others read it
 * and take it over once it has not changed for a whole lease duration. Every
 * write carries the resourceVersion read, so of two replicas that try at
 * once, the API server lets exactly one through.
 *
 * Expiry is measured on this replica's own clock, from when it last saw the
 * Lease change, never from the renewTime written in it: clocks of two nodes
 * may disagree, their rates hardly do. The leader counts itself leader only
 * for renewDeadline after it sent its last successful renewal, shorter than
 * the lease duration, so it has stopped acting before anyone else may start.
 */
import { V1MicroTime, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';

import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { isConflict, isAlreadyExists, orUndefined, type Clients } from './kube.js';
import { systemClock, type Clock } from './queue.js';

export interface LeaseTiming {
  /** How long others wait after the Lease last changed before taking it. */
  leaseDurationMs: number;
  /** The leader stops acting this long after its last successful renewal. */
  renewDeadlineMs: number;
  /** How often the leader renews. */
  renewPeriodMs: number;
  /** How often a follower looks, and how soon a failed renewal is tried again. */
  retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMING: LeaseTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  renewPeriodMs: 5_000,
  retryPeriodMs: 2_000,
};

export interface LeaseDecisionInput {
  lease: V1Lease | undefined;
  identity: string;
  now: Date;
  /** When this replica last saw the Lease's holder or renewTime change (its own clock). */
  observedAt: number;
  leaseDurationMs: number;
}

export type LeaseDecision =
  | { action: 'create'; spec: V1LeaseSpec }
  | { action: 'update'; spec: V1LeaseSpec; takeover: boolean }
  | { action: 'wait'; holder: string; expiresInMs: number };

/** The API server wants six fractional digits in a Lease's times; a plain Date gives three. */
function microTime(at: Date): V1MicroTime {
  return new V1MicroTime(at.getTime());
}

/**
 * What to do with the Lease as read: create it, renew or take it over, or
 * wait for its holder's lease to run out.
 */
export function decideLease(input: LeaseDecisionInput): LeaseDecision {
  const { lease, identity, now, leaseDurationMs } = input;
  const durationSeconds = Math.ceil(leaseDurationMs / 1000);
  if (lease === undefined) {
    return {
      action: 'create',
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      },
    };
  }

  const spec = lease.spec ?? {};
  const holder = spec.holderIdentity ?? '';
  if (holder === identity) {
    return {
      action: 'update',
      takeover: false,
      spec: { ...spec, leaseDurationSeconds: durationSeconds, renewTime: microTime(now) },
    };
  }

  // A released Lease (no holder) is free at once; a held one when it has not moved for its duration.
  const heldFor = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
  const expiresInMs = input.observedAt + heldFor - now.getTime();
  if (holder !== '' && expiresInMs > 0) return { action: 'wait', holder, expiresInMs };
  return {
    action: 'update',
    takeover: true,
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === '' ? 0 : 1),
    },
  };
}

export interface LeaderElectorOptions {
  clients: Pick<Clients, 'coordination'>;
  namespace: string;
  name: string;
  identity: string;
  timing?: Partial<LeaseTiming>;
  clock?: Clock;
  log?: Logger;
  onStartedLeading: () => void;
  /** Called once when leadership ends, lost or released. */
  onStoppedLeading: () => void;
}

export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #timing: LeaseTiming;
  readonly #clock: Clock;
  #leading = false;
  /** When the last successful renewal was sent (this replica's clock). */
  #renewedAt = 0;
  #observed: { key: string; at: number } | undefined;
  #timer: unknown;
  #stopped = true;
  #tick: Promise<boolean> | undefined;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#timing = { ...DEFAULT_LEASE_TIMING, ...options.timing };
    this.#clock = options.clock ?? systemClock;
    if (this.#timing.renewDeadlineMs >= this.#timing.leaseDurationMs) {
      throw new RangeError('renewDeadlineMs must be shorter than leaseDurationMs');
    }
  }

  /** True only while a renewal sent less than renewDeadline ago succeeded. */
  isLeader(): boolean {
    return this.#leading && this.#clock.now() - this.#renewedAt < this.#timing.renewDeadlineMs;
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops trying; a leader releases the Lease so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#tick;
    this.#lose('stopping');
    // Also after a look that acquired the Lease while stopping: release reads who holds it.
    await this.#release();
  }

  /** One look at the Lease; true when this replica holds it afterwards. The timer calls it, tests may too. */
  async tryAcquireOrRenew(): Promise<boolean> {
    const { clients, namespace, name, identity, log } = this.#options;
    const sentAt = this.#clock.now();
    try {
      const lease = await orUndefined(
        clients.coordination.readNamespacedLease({ namespace, name }),
      );
      this.#observe(lease);
      const decision = decideLease({
        lease,
        identity,
        now: new Date(sentAt),
        observedAt: this.#observed?.at ?? sentAt,
        leaseDurationMs: this.#timing.leaseDurationMs,
      });
      if (decision.action === 'wait') {
        if (this.#leading) this.#lose(`the Lease is held by ${decision.holder}`);
        return false;
      }
      const body: V1Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { ...lease?.metadata, name, namespace },
        spec: decision.spec,
      };
      const written =
        decision.action === 'create'
          ? await clients.coordination.createNamespacedLease({ namespace, body })
          : await clients.coordination.replaceNamespacedLease({ namespace, name, body });
      this.#observe(written);
      this.#renewedAt = sentAt;
      if (!this.#leading && !this.#stopped) {
        this.#leading = true;
        log?.info({ lease: `${namespace}/${name}`, identity }, 'became leader');
        this.#options.onStartedLeading();
      }
      return true;
    } catch (err) {
      if (isConflict(err) || isAlreadyExists(err)) {
        // Another replica wrote first; the next look shows who.
        if (this.#leading) this.#lose('another replica updated the Lease');
        return false;
      }
      log?.warn(
        { lease: `${namespace}/${name}`, err: messageOf(err) },
        'cannot read or renew the Lease',
      );
      if (this.#leading && !this.isLeader()) this.#lose('renewal failed past the renew deadline');
      return false;
    }
  }

  #observe(lease: V1Lease | undefined): void {
    const spec = lease?.spec;
    const key = `${spec?.holderIdentity ?? ''}|${String(spec?.renewTime ?? '')}|${lease?.metadata?.resourceVersion ?? ''}`;
    if (this.#observed?.key !== key) this.#observed = { key, at: this.#clock.now() };
  }

  #lose(why: string): void {
    if (!this.#leading) return;
    this.#leading = false;
    this.#options.log?.warn({ identity: this.#options.identity, reason: why }, 'stopped leading');
    this.#options.onStoppedLeading();
  }

  async #release(): Promise<void> {
    const { clients, namespace, name, identity, log } = this.#options;
    try {
      const lease = await clients.coordination.readNamespacedLease({ namespace, name });
      if (lease.spec?.holderIdentity !== identity) return;
      const now = new Date(this.#clock.now());
      await clients.coordination.replaceNamespacedLease({
        namespace,
        name,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', renewTime: microTime(now) },
        },
      });
      log?.info({ lease: `${namespace}/${name}`, identity }, 'released the Lease');
    } catch (err) {
      log?.warn({ err: messageOf(err) }, 'cannot release the Lease; it expires by itself');
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimeout(() => {
      const tick = this.tryAcquireOrRenew();
      this.#tick = tick;
      void tick.then((held) => {
        this.#tick = undefined;
        // A renewal that failed is tried again soon, not a whole renew period later.
        this.#schedule(held ? this.#timing.renewPeriodMs : this.#timing.retryPeriodMs);
      });
    }, delayMs);
  }
}
