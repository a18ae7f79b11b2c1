import { ensurePrerequisites } from './prereqs.js';

export default function setup(): void {
  ensurePrerequisites();
}
