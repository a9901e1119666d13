/**
 * The driver's phase, the one answer behind the CSI Probe's `ready`, /readyz
 * and the keymount_ready metric, so the three never disagree.
 */
export type DriverPhase = 'starting' | 'serving' | 'stopping';

const REASONS: Readonly<Record<DriverPhase, string>> = {
  starting: 'starting: loading the config and initialising the provider instances',
  serving: 'ready: config loaded, provider instances initialised, CSI socket bound',
  stopping: 'stopping: finishing in-flight calls before exit',
};

export class DriverStatus {
  private current: DriverPhase = 'starting';

  constructor(private readonly onChange: (ready: boolean) => void = () => undefined) {}

  get phase(): DriverPhase {
    return this.current;
  }

  isReady(): boolean {
    return this.current === 'serving';
  }

  describe(): string {
    return REASONS[this.current];
  }

  set(phase: DriverPhase): void {
    this.current = phase;
    this.onChange(this.isReady());
  }
}
