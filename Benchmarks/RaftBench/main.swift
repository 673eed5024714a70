print("raft-bench")
