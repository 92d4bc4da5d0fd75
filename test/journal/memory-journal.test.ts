import { MemoryJournal } from '../../src/index.js';
import { journalConformance } from '../../src/testing/index.js';

journalConformance('MemoryJournal', { open: () => Promise.resolve(new MemoryJournal()) });
