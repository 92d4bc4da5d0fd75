import { MemoryDeadLetters, MemoryJournal } from '../../src/index.js';
import { deadLetterConformance } from '../../src/testing/index.js';

deadLetterConformance('MemoryDeadLetters', {
  open: () => {
    const journal = new MemoryJournal();
    return Promise.resolve({
      store: new MemoryDeadLetters(),
      journal,
      close: () => journal.close(),
    });
  },
});
