// Executor: see issue 7.
