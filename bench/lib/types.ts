import type { Cluster } from './cluster.ts';

export interface BenchContext {
  quick: boolean;
  log(msg: string): void;
  /** The hub + agent shared by the scenarios that do not measure memory (started on first use). */
  cluster(): Promise<Cluster>;
}

export interface RepResult {
  /** Numeric figures; the report gives each one's median, min and max over the repetitions. */
  metrics: Record<string, number>;
  /** Must hold in every repetition (e.g. byte-exact delivery). */
  checks?: Record<string, boolean>;
  /** Kept in the JSON for reference. */
  info?: Record<string, unknown>;
  /** Set when the scenario could not run here (e.g. a service it needs is unreachable): the
   * report prints this instead of figures, and the remaining repetitions are not attempted. */
  skipped?: string;
}

export interface Scenario {
  name: string;
  title: string;
  /** Scenarios whose figures this one's target is a ratio to (selected with it by --only). */
  needs?: string[];
  run(ctx: BenchContext, rep: number): Promise<RepResult>;
}
