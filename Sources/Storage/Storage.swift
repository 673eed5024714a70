// Durable Raft storage: see issue 3 (WAL segments, snapshots, fsync discipline).
