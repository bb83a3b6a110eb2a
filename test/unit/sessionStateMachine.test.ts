/** The live session state machine (architecture §3): every allowed and every refused transition. */
import { expect } from 'chai';
import type { SessionStatus } from '../../common/statuses.ts';
import { SESSION_STATUSES } from '../../common/statuses.ts';
import { canTransition, isTerminalSession, transitionProblem } from '../../hub/domain/sessionStateMachine.ts';

/** disabled → starting → ready → (revoked | ended | error); starting → error; terminals never change. */
const ALLOWED: Record<SessionStatus, SessionStatus[]> = {
  // A session enabled for a run waits as `disabled` until the worker brings the live layer up;
  // it may go straight to ready, fail, or be ended / revoked with its run before it ever started.
  disabled: ['starting', 'ready', 'revoked', 'ended', 'error'],
  starting: ['ready', 'revoked', 'ended', 'error'],
  ready: ['revoked', 'ended', 'error'],
  revoked: [],
  ended: [],
  error: [],
};

describe('session state machine', () => {
  it('knows the terminal states', () => {
    expect(SESSION_STATUSES.filter(isTerminalSession)).to.deep.equal(['revoked', 'ended', 'error']);
  });

  for (const from of SESSION_STATUSES) {
    for (const to of SESSION_STATUSES) {
      if (from === to) {
        it(`${from} → ${to}: a repeated report is an idempotent no-op`, () => {
          expect(canTransition(from, to)).to.equal(false);
          expect(transitionProblem(from, to)).to.equal(null);
        });
        continue;
      }
      const allowed = ALLOWED[from].includes(to);
      it(`${from} → ${to}: ${allowed ? 'allowed' : 'refused'}`, () => {
        expect(canTransition(from, to)).to.equal(allowed);
        const problem = transitionProblem(from, to);
        if (allowed) {
          expect(problem).to.equal(null);
        } else {
          expect(problem).to.be.a('string');
          expect(problem).to.contain(from);
          if (isTerminalSession(from)) expect(problem).to.contain('terminal');
          else expect(problem).to.contain(to);
        }
      });
    }
  }

  it('never goes back: ready cannot return to starting or disabled', () => {
    expect(canTransition('ready', 'starting')).to.equal(false);
    expect(canTransition('ready', 'disabled')).to.equal(false);
    expect(canTransition('starting', 'disabled')).to.equal(false);
  });
});
