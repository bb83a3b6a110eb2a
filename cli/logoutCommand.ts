/** `handoff logout` (see loginCommand.ts). */
export { logout as run } from './loginCommand.ts';
