print("wal-bench")
